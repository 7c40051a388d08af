package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// MaxFileSize caps a config (or token) file: a real config is a few KiB;
// a runaway file (a log redirected over it, a 100 MB paste) is refused
// instead of being parsed into hundreds of MB of YAML nodes.
const MaxFileSize = 1 << 20

// ReadFile reads a config file for Load, `ingestd doctor`, the client
// commands and the SIGHUP reload. Symlinks are followed (configuration
// management links /etc files), but the target must be a regular file of at
// most MaxFileSize bytes: a FIFO or a device would block or stream forever,
// so the file is opened O_NONBLOCK and checked with fstat before a byte is
// read. Errors name the path.
func ReadFile(path string) ([]byte, error) {
	return readRegular(path, MaxFileSize)
}

func readRegular(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	switch {
	case fi.IsDir():
		return nil, fmt.Errorf("read %s: is a directory, not a file", path)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("read %s: not a regular file (%s)", path, fi.Mode().Type())
	case fi.Size() > limit:
		return nil, fmt.Errorf("read %s: %d bytes, more than the %d allowed", path, fi.Size(), limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("read %s: more than the %d bytes allowed", path, limit)
	}
	return b, nil
}

// RealPath resolves symlinks in p, which must be absolute and clean. A
// path that does not exist yet (a state_dir created at first start, maybe
// through a link whose target is not made yet) is resolved as far as it
// exists and the rest appended: the daemon would create it there.
func RealPath(p string) string {
	const maxLinks = 40
	links := 0
	done := "/"
	rest := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		if name == "" || name == "." {
			continue
		}
		if name == ".." {
			done = filepath.Dir(done)
			continue
		}
		next := filepath.Join(done, name)
		fi, err := os.Lstat(next)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			done = next // missing parts are taken as written
			continue
		}
		if links++; links > maxLinks {
			return p
		}
		target, err := os.Readlink(next)
		if err != nil {
			return p
		}
		if filepath.IsAbs(target) {
			done = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return done
}
