package cards

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// MaxSidecarSize bounds what ParseSidecar reads: camera XML sidecars are a
// few KiB; anything past this is not one.
const MaxSidecarSize = 4 << 20

// ErrTooLarge is returned (wrapped) for a sidecar or playlist larger than
// its documented limit.
var ErrTooLarge = errors.New("file larger than the limit")

// readSmallFile reads the regular file p, at most max bytes: a final
// symlink is not followed, a FIFO or device is refused without blocking on
// it, and a larger file fails with ErrTooLarge.
func readSmallFile(p string, max int64) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", p, fi.Mode().Type())
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s: %w: %d bytes, limit %d", p, ErrTooLarge, fi.Size(), max)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: %w: limit %d", p, ErrTooLarge, max)
	}
	return data, nil
}
