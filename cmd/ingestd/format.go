package main

// Formatting helpers of the human-readable output: sizes, times, names
// that are safe on a terminal, progress bars, terminal detection.

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/daemon"
)

// humanBytes formats a size with binary units (daemon.HumanBytes, which
// the daemon's log lines use too).
func humanBytes(n int64) string { return daemon.HumanBytes(n) }

func humanTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// quote shows a path safely on a terminal: a name with control bytes (C0,
// DEL, C1 such as CSI), other unprintable runes (bidi overrides, zero-width
// characters) or bytes that are not UTF-8 is printed Go-quoted, each such
// byte escaped ("a\xff.mov"), so two names that differ only there print
// differently and nothing reaches the terminal raw; ordinary names are
// printed as they are.
func quote(s string) string {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				return strconv.Quote(s)
			}
		}
		if !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// short abbreviates an asset id for tables.
func short(id string) string {
	if len(id) > 12 {
		return id[:12] + "…"
	}
	return id
}

// progBar draws [#####.....] of the given inner width; unknown fraction: a
// marker that says "working" without pretending a share.
func progBar(frac float64, width int) string {
	if frac < 0 {
		return "[" + strings.Repeat("~", width) + "]"
	}
	n := int(frac*float64(width) + 0.5)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

func progTrim(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func progUS(us int64) string {
	return (time.Duration(us) * time.Microsecond).Round(100 * time.Millisecond).String()
}

// progressBar is the one-line bar of `ingestd verify` on a terminal.
func progressBar(files, filesTotal int, b, bTotal int64) string {
	const width = 30
	frac := 1.0
	if bTotal > 0 {
		frac = float64(b) / float64(bTotal)
	} else if filesTotal > 0 {
		frac = float64(files) / float64(filesTotal)
	}
	n := int(frac * width)
	return fmt.Sprintf("[%s%s] %3.0f%% %d/%d files %s/%s", strings.Repeat("#", n), strings.Repeat(".", width-n),
		frac*100, files, filesTotal, humanBytes(b), humanBytes(bTotal))
}

// ttyInfo reports whether w is a terminal (TCGETS succeeds), and its
// width in columns (80 when unknown).
func ttyInfo(w io.Writer) (bool, int) {
	f, ok := w.(*os.File)
	if !ok {
		return false, 0
	}
	if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err != nil {
		return false, 0
	}
	cols := 80
	if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col >= 40 {
		cols = int(ws.Col)
	}
	return true, cols
}

func isTerminal(w io.Writer) bool {
	tty, _ := ttyInfo(w)
	return tty
}
