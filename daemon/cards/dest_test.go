package cards

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDestPath(t *testing.T) {
	id := Identity{Label: "A001/B", UUID: "u-1", Layout: LayoutP2, Fingerprint: "0123456789abcdef0123"}
	at := time.Date(2026, 2, 1, 10, 15, 30, 0, time.UTC)
	for _, tc := range []struct {
		tmpl, want string
		bad        bool
	}{
		{"{date}/{label}", "2026-02-01/A001_B", false},
		{"cards/{layout}/{date}_{time}/{uuid}", "cards/panasonic_p2/2026-02-01_101530/u-1", false},
		{"{date}/{nope}", "", true},
		{"/abs/{label}", "", true},
		{"../{label}", "", true},
		{"", "", true},
		{"@eaDir/{label}", "", true},
		{"{label}.part/x", "_A001_B.part_/x", false},
	} {
		got, err := DestPath(tc.tmpl, id, at)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("DestPath(%q) = %q, %v; want %q bad=%v", tc.tmpl, got, err, tc.want, tc.bad)
		}
	}
	if got, _ := DestPath("{label}", Identity{Fingerprint: "abcdefabcdefabcdef"}, at); got != "card-abcdefabcdef" {
		t.Errorf("label of a card without label or uuid: %q", got)
	}
	// Labels (and every other field) become names the catalog sees.
	for _, tc := range []struct{ label, want string }{
		{".hidden", "hidden"},
		{"..", "_"},
		{"...", "_"},
		{"._A001", "_A001"},
		{"a/../b", "a_.._b"},
		{"A\x00B\tC\x7f", "A_B_C_"},
		{"@eaDir", "_@eaDir"},
		{"#recycle", "_#recycle"},
		{"#snapshot", "_#snapshot"},
		{"lost+found", "_lost+found"},
		{"Thumbs.db", "_Thumbs.db"},
		{"CLIP.part", "_CLIP.part_"},
		{"x.ingestd-partial", "_x.ingestd-partial_"},
		{"  ", "_"},
		{"NO NAME", "NO NAME"},
		{"A001", "A001"},
	} {
		got, err := DestPath("{date}/{label}", Identity{Label: tc.label, UUID: "u"}, at)
		if err != nil || got != "2026-02-01/"+tc.want {
			t.Errorf("label %q: %q, %v; want 2026-02-01/%s", tc.label, got, err, tc.want)
		}
		for _, el := range strings.Split(got, "/") {
			if builtinIgnored(el) {
				t.Errorf("label %q: %q is skipped by the catalog", tc.label, got)
			}
		}
	}
	for _, f := range []string{"{uuid}", "{fingerprint}", "{layout}"} {
		got, err := DestPath(f, Identity{Label: "x", UUID: ".u", Fingerprint: ".f", Layout: ".l"}, at)
		if err != nil || strings.HasPrefix(got, ".") {
			t.Errorf("%s with a leading dot: %q, %v", f, got, err)
		}
	}
	o := Origin(id, Result{Layout: LayoutP2, Finished: at})
	if o.CardLabel != "A001/B" || o.CardLayout != "panasonic_p2" || !o.OffloadAt.Equal(at) {
		t.Errorf("origin %+v", o)
	}
}

// A destination's failure names the path and the operation once (a trial
// saw "sync P: sync P: input/output error"), and keeps what callers
// match on (ErrNoSpace, ErrDestTampered, the errno).
func TestDstErr(t *testing.T) {
	const p = "/raid/A001/C001.MP4.ingestd-partial"
	for _, tc := range []struct {
		name, what string
		err        error
		want       string
		is         []error
	}{
		{"same op and path", "sync " + p, &fs.PathError{Op: "sync", Path: p, Err: syscall.EIO},
			"sync " + p + ": input/output error", []error{syscall.EIO}},
		{"other op, same path", "create " + p, &fs.PathError{Op: "open", Path: p, Err: syscall.EROFS},
			"create " + p + ": open: read-only file system", []error{syscall.EROFS}},
		{"full", "sync " + p, &fs.PathError{Op: "sync", Path: p, Err: syscall.ENOSPC},
			"sync " + p + ": destination full: no space left on device", []error{ErrNoSpace, syscall.ENOSPC}},
		{"other path kept", "create /raid/A001", &fs.PathError{Op: "mkdir", Path: "/raid/A001/DCIM", Err: syscall.EIO},
			"create /raid/A001: mkdir /raid/A001/DCIM: input/output error", []error{syscall.EIO}},
		{"wrapped error kept whole", "sync " + p, fmt.Errorf("flush: %w", &fs.PathError{Op: "sync", Path: p, Err: syscall.EIO}),
			"sync " + p + ": flush: sync " + p + ": input/output error", []error{syscall.EIO}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := dstErr(tc.err, tc.what)
			if err.Error() != tc.want {
				t.Errorf("dstErr = %q\nwant %q", err, tc.want)
			}
			for _, target := range tc.is {
				if !errors.Is(err, target) {
					t.Errorf("%q is not %v", err, target)
				}
			}
		})
	}
}
