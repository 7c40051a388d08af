package ascmhl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/safefs"
)

func TestCheckChainPath(t *testing.T) {
	for _, tc := range []struct {
		p  string
		ok bool
	}{
		{"0001_A001_2026-01-01_101010Z.mhl", true},
		{"x.mhl", true},
		{"", false},
		{".", false},
		{"..", false},
		{"../x.mhl", false},
		{"../../etc/passwd", false},
		{"/etc/passwd", false},
		{"sub/x.mhl", false},
		{`..\x.mhl`, false},
		{"x\x00.mhl", false},
	} {
		err := checkChainPath(tc.p)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadChain)) {
			t.Errorf("checkChainPath(%q) = %v, want ok=%v", tc.p, err, tc.ok)
		}
	}
}

// Open refuses, without blocking or reading far, every history entry that
// is not a regular file inside ascmhl/.
func TestOpenBounds(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "0001_out.mhl")
	os.WriteFile(outside, []byte("<hashlist/>"), 0o644)
	chainOf := func(p string) []byte {
		return MarshalChain([]ChainEntry{{Number: 1, Path: p, Format: MD5, Hash: "00"}})
	}
	for _, tc := range []struct {
		name  string
		plant func(asc string)
		want  error
	}{
		{"dotdot", func(asc string) { os.WriteFile(filepath.Join(asc, ChainName), chainOf("../../x.mhl"), 0o644) }, ErrBadChain},
		{"fifo", func(asc string) {
			syscall.Mkfifo(filepath.Join(asc, "0001_f.mhl"), 0o644)
			os.WriteFile(filepath.Join(asc, ChainName), chainOf("0001_f.mhl"), 0o644)
		}, safefs.ErrNotRegular},
		{"dev zero", func(asc string) {
			os.Symlink("/dev/zero", filepath.Join(asc, "0001_z.mhl"))
			os.WriteFile(filepath.Join(asc, ChainName), chainOf("0001_z.mhl"), 0o644)
		}, safefs.ErrSymlink},
		{"chain symlink", func(asc string) { os.Symlink(outside, filepath.Join(asc, ChainName)) }, safefs.ErrSymlink},
		{"big chain", func(asc string) {
			f, _ := os.Create(filepath.Join(asc, ChainName))
			f.Truncate(MaxChainSize + 1)
			f.Close()
		}, safefs.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			asc := filepath.Join(root, FolderName)
			os.Mkdir(asc, 0o755)
			tc.plant(asc)
			start := time.Now()
			_, err := Open(root)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
			if time.Since(start) > 5*time.Second || strings.Contains(err.Error(), "<hashlist") {
				t.Fatalf("Open took %s: %v", time.Since(start), err)
			}
		})
	}
	// Writing a generation never goes through a symlinked ascmhl/.
	root := t.TempDir()
	dir := t.TempDir()
	os.Symlink(dir, filepath.Join(root, FolderName))
	h := &History{Root: root}
	if err := h.AddGeneration(&Generation{Process: ProcessInPlace}); !errors.Is(err, safefs.ErrSymlink) {
		t.Fatalf("AddGeneration through a symlink: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("written through the symlink: %v", ents)
	}
}
