package watch

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/internal/atomicfile"
	"github.com/ingestd/ingestd/storage"
)

// inodePrefix marks an identity kept as device and root inode, used when
// the root was not writable and no marker file could be written.
const inodePrefix = "inode:"

// FstabPath is read by Adopt to refuse adopting an unmounted mount point.
// A variable so tests can point it elsewhere.
var FstabPath = "/etc/fstab"

// Verify reports whether the volume at root is the one recorded in rec:
// the root exists and is a directory, and it carries rec's marker (or, for
// an inode identity, the same device and root inode). It never writes.
// reason is empty when the volume is online; otherwise it says why not
// (root missing, not mounted, marker missing, replaced). dev is the root's
// current st_dev (a remounted NAS share gets a new one; the marker is what
// proves identity, and the caller records the new dev).
func Verify(root string, rec storage.Volume) (dev uint64, reason string) {
	var st unix.Stat_t
	if err := unix.Stat(root, &st); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return 0, "root missing: " + root
		}
		return 0, fmt.Sprintf("root unreadable: %s: %v", root, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return 0, "root is not a directory: " + root
	}
	dev = uint64(st.Dev)
	if rec.Marker == "" {
		return dev, "not adopted yet"
	}
	unmounted := func() bool {
		pdev, ok := parentDev(root)
		return ok && pdev == dev && rec.Dev != 0 && rec.Dev != dev
	}
	if strings.HasPrefix(rec.Marker, inodePrefix) {
		if want := inodeIdentity(dev, st.Ino); want != rec.Marker {
			if unmounted() {
				return dev, "not mounted: root is on its parent's device"
			}
			return dev, fmt.Sprintf("replaced: device/inode %s, recorded %s", strings.TrimPrefix(want, inodePrefix), strings.TrimPrefix(rec.Marker, inodePrefix))
		}
		return dev, ""
	}
	id, err := ReadMarker(root)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if unmounted() {
			return dev, "not mounted: root is on its parent's device and the marker is missing"
		}
		return dev, "marker " + MarkerName + " missing (emptied or replaced mount)"
	case err != nil:
		return dev, fmt.Sprintf("marker unreadable: %v", err)
	case id != rec.Marker:
		return dev, fmt.Sprintf("replaced: marker id %s, recorded %s", id, rec.Marker)
	}
	return dev, ""
}

// Adopt makes root a volume: it writes a marker file with a new random id
// and returns the identity to record (Marker and Dev). If the root is not
// writable it falls back to the device and root inode (note says so). It
// refuses a root that /etc/fstab lists as a mount point while nothing is
// mounted there, so a daemon started before the NAS never adopts the empty
// mount point.
func Adopt(root string) (marker string, dev uint64, note string, err error) {
	var st unix.Stat_t
	if err := unix.Stat(root, &st); err != nil {
		return "", 0, "", fmt.Errorf("adopt %s: %w", root, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return "", 0, "", fmt.Errorf("adopt %s: not a directory", root)
	}
	dev = uint64(st.Dev)
	if pdev, ok := parentDev(root); ok && pdev == dev && inFstab(root) {
		return "", dev, "", fmt.Errorf("adopt %s: listed in %s as a mount point but not mounted", root, FstabPath)
	}
	if id, err := ReadMarker(root); err == nil && id != "" {
		// A marker from an earlier catalog (state dir reset): keep it.
		return id, dev, "existing marker kept", nil
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", 0, "", fmt.Errorf("adopt %s: %w", root, err)
	}
	id := hex.EncodeToString(b[:])
	if err := writeMarker(root, id); err != nil {
		return inodeIdentity(dev, st.Ino), dev, fmt.Sprintf("root not writable (%v): identity is device and root inode", err), nil
	}
	return id, dev, "marker written", nil
}

func inodeIdentity(dev, ino uint64) string {
	return inodePrefix + strconv.FormatUint(dev, 10) + ":" + strconv.FormatUint(ino, 10)
}

// ReadMarker returns the id in root's marker file (os.ErrNotExist wrapped
// when there is none). A marker that is a link or not a regular file does
// not count.
func ReadMarker(root string) (string, error) {
	p := filepath.Join(root, MarkerName)
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return "", fmt.Errorf("marker %s is a link: %w", p, os.ErrNotExist)
		}
		return "", fmt.Errorf("read marker: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 4096))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "id "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read marker %s: %w", p, err)
	}
	return "", fmt.Errorf("marker %s has no id line", p)
}

func writeMarker(root, id string) error {
	body := "# ingestd volume marker: ingestd recognises this volume by it.\n" +
		"# Deleting it takes the volume offline in ingestd (nothing is removed from the catalog).\n" +
		"id " + id + "\n"
	return atomicfile.WriteFile(filepath.Join(root, MarkerName), []byte(body), 0o600)
}

// WriteMarker writes (or rewrites) root's marker with id: an admin's way
// to re-adopt a volume whose marker was lost, keeping its catalog.
func WriteMarker(root, id string) error {
	if err := writeMarker(root, id); err != nil {
		return fmt.Errorf("write marker in %s: %w", root, err)
	}
	return nil
}

func parentDev(root string) (uint64, bool) {
	abs, err := filepath.Abs(root)
	if err != nil || abs == "/" {
		return 0, false
	}
	var st unix.Stat_t
	if unix.Stat(filepath.Dir(abs), &st) != nil {
		return 0, false
	}
	return uint64(st.Dev), true
}

// inFstab reports whether root is a mount point listed in FstabPath.
func inFstab(root string) bool {
	abs, err := filepath.Abs(root)
	if err != nil {
		return false
	}
	b, err := os.ReadFile(FstabPath)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if filepath.Clean(unescapeFstab(f[1])) == abs {
			return true
		}
	}
	return false
}

func unescapeFstab(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// WritableVolume says why the volume recorded as rec must not be written
// at root now, "" when it may: its identity must be there (Verify), or,
// for a volume not adopted yet, root must not be a mount point /etc/fstab
// lists while nothing is mounted there. It keeps a writer (a card offload
// to a destination volume) off the empty mount point of an unmounted NAS
// share or shuttle drive, which would fill the system disk with copies
// that are not on the volume.
func WritableVolume(root string, rec storage.Volume) string {
	dev, reason := Verify(root, rec)
	if reason != "not adopted yet" {
		return reason
	}
	if pdev, ok := parentDev(root); ok && pdev == dev && inFstab(root) {
		return "not mounted: " + root + " is listed in " + FstabPath + " as a mount point"
	}
	return ""
}
