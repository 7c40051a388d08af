package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/daemon/api/wire"
)

// progressStatus is a status document as the CLI decodes it from JSON.
func progressStatus(t *testing.T) wire.Status {
	t.Helper()
	s := wire.Status{
		Volumes: []wire.VolumeStatus{{Name: "footage", Scanning: true, Files: 1200, Bytes: 3 << 30}, {Name: "idle"}},
		Proxy: &wire.ProxyStatus{TranscodeStatus: wire.TranscodeStatus{Running: []wire.JobStatus{{AssetID: strings.Repeat("ab", 32), Lane: "cpu", Encoder: "libx264",
			OutTimeUS: 30_000_000, DurationUS: 120_000_000, Speed: 2.5}}}},
		Sync: &wire.SyncStatus{S3: &wire.S3Status{BacklogAssets: 2, BacklogObjects: 5, BacklogBytes: 10 << 20,
			InFlight: []wire.InFlight{{Key: "edge/box/assets/x/proxy.mp4", Bytes: 8 << 20, Total: 32 << 20, Rate: 4 << 20}}}},
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back wire.Status
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return back
}

func TestProgressPlain(t *testing.T) {
	var b bytes.Buffer
	printProgress(&b, progressStatus(t), false, 0)
	out := b.String()
	for _, want := range []string{
		"progress\tscan\tfootage\t-\tinitial scan: 1200 files, 3.0 GiB so far\n",
		"progress\tproxy\tabababababab…\t25%\t30s / 2m0s  2.5x  cpu libx264\n",
		"progress\tupload\tedge/box/assets/x/proxy.mp4\t25%\t8.0 MiB / 32.0 MiB  4.0 MiB/s\n",
		"progress\tsync-backlog\t-\t-\t5 objects, 10.0 MiB in 2 assets\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plain output lacks %q:\n%s", want, out)
		}
	}
	if strings.ContainsAny(out, "[#\x1b") {
		t.Errorf("plain output has bars or escapes:\n%s", out)
	}
	if strings.Contains(out, "idle") {
		t.Error("an idle volume is listed as work")
	}
	b.Reset()
	printProgress(&b, wire.Status{Volumes: []wire.VolumeStatus{{Name: "idle"}}}, false, 0)
	if b.Len() != 0 {
		t.Errorf("no work, yet output %q", b.String())
	}
}

func TestProgressBars(t *testing.T) {
	var b bytes.Buffer
	printProgress(&b, progressStatus(t), true, 100)
	out := b.String()
	// 25% of a 40-wide bar is 10 '#'.
	for _, want := range []string{"[" + strings.Repeat("#", 10) + strings.Repeat(".", 30) + "]  25%", "[~~~", "sync backlog", "4.0 MiB/s"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "progress\t") {
		t.Errorf("terminal output has plain lines:\n%s", out)
	}
}

// TestTTYDetection opens a real pseudo-terminal: its slave side is a
// terminal with the size set on it; a pipe and a file are not.
func TestTTYDetection(t *testing.T) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no /dev/ptmx: %v", err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile("/dev/pts/"+itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pts.Close()
	if err := unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 30, Col: 132}); err != nil {
		t.Fatal(err)
	}
	if tty, cols := ttyInfo(pts); !tty || cols != 132 {
		t.Errorf("pty: tty=%v cols=%d, want true 132", tty, cols)
	}
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	if tty, _ := ttyInfo(w); tty {
		t.Error("a pipe is reported as a terminal")
	}
	var b bytes.Buffer
	if tty, _ := ttyInfo(&b); tty {
		t.Error("a buffer is reported as a terminal")
	}
	// The whole status command writes bars to the pty.
	done := make(chan string)
	go func() {
		buf := make([]byte, 64<<10)
		var out []byte
		ptmx.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			n, err := ptmx.Read(buf)
			out = append(out, buf[:n]...)
			if err != nil || bytes.Contains(out, []byte("sync backlog")) {
				break
			}
		}
		done <- string(out)
	}()
	tty, cols := ttyInfo(pts)
	printProgress(pts, progressStatus(t), tty, cols)
	if out := <-done; !strings.Contains(out, "[##########") {
		t.Errorf("pty output lacks a bar:\n%q", out)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestStatusWatchFlag(t *testing.T) {
	for _, c := range []struct {
		args  []string
		every time.Duration
		rest  []string
		ok    bool
		err   bool
	}{
		{[]string{"-config", "x.yaml"}, 0, []string{"-config", "x.yaml"}, false, false},
		{[]string{"-watch", "2s", "-config", "x.yaml"}, 2 * time.Second, []string{"-config", "x.yaml"}, true, false},
		{[]string{"--watch=500ms"}, 500 * time.Millisecond, nil, true, false},
		{[]string{"-watch"}, 0, nil, true, true},
		{[]string{"-watch", "1ms"}, 0, nil, true, true},
		{[]string{"-watch", "soon"}, 0, nil, true, true},
	} {
		every, rest, ok, err := statusWatch(c.args)
		if ok != c.ok || (err != nil) != c.err || (!c.err && (every != c.every || strings.Join(rest, " ") != strings.Join(c.rest, " "))) {
			t.Errorf("%q: every=%v rest=%q ok=%v err=%v", c.args, every, rest, ok, err)
		}
		var ue *UsageError
		if err != nil && !errors.As(err, &ue) {
			t.Errorf("%q: error %v is not a usage error (exit 64)", c.args, err)
		}
	}
}
