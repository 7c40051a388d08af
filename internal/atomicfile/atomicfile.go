// Package atomicfile replaces a file in a trusted directory (the state dir,
// a volume root's marker) so that after a process crash or a power cut the
// name holds either the old content or the new, whole: never a mix, never
// a truncated file.
//
// The protocol, in this order: a fresh temporary file in the same directory
// (created O_EXCL with a random name, hidden: a dot first), the content
// written, its mode set, the file fsynced and closed, renamed over the
// name (rename(2) is atomic and replaces a symlink at the name rather than
// writing through it), and the directory fsynced so the rename itself is
// on disk. On any error before the rename the temporary file is removed
// and the old file is untouched.
//
// It owns only that protocol. It must not be used beneath an untrusted
// folder a symlink could redirect (card offload destinations): those go
// through internal/safefs (Dir.WriteFileAtomic), which never follows one.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Hooks a test replaces to observe or fail the steps in order.
var (
	fsync  = (*os.File).Sync
	rename = os.Rename
)

// WriteFile replaces path with data, mode perm exactly (not masked by the
// umask).
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// Write replaces path with what fill writes to the temporary file, mode
// perm exactly. An error from fill (or any step) leaves path as it was;
// the error is returned wrapped with the path.
func Write(path string, perm os.FileMode, fill func(f *os.File) error) error {
	dir, base := filepath.Dir(path), filepath.Base(path)
	pattern := base + ".tmp*"
	if !strings.HasPrefix(base, ".") {
		pattern = "." + pattern
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	err = fill(f)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = fsync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("write %s: sync directory: %w", path, err)
	}
	return nil
}

// SyncDir fsyncs the directory dir (after creating, renaming or removing
// in it), so the change survives a power cut.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = fsync(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
