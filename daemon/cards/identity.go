package cards

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ingestd/ingestd/daemon/api/wire"
)

// Mount is one line of /proc/self/mountinfo.
type Mount struct {
	ID         int
	Major      uint32
	Minor      uint32
	Root       string // root of the mount within the filesystem
	MountPoint string
	FSType     string
	Source     string // e.g. /dev/sdb1, /dev/loop3, tmpfs
	Options    string
	// UniqueID is the mount's never-reused ID (statx STATX_MNT_ID_UNIQUE,
	// set by MountWatcher; 0 when unknown): mountinfo's ID is reused.
	UniqueID uint64
}

// ParseMountinfo reads a mountinfo file (normally /proc/self/mountinfo; an
// argument so tests and the daemon's poller can point elsewhere).
func ParseMountinfo(path string) ([]Mount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read mountinfo %s: %w", path, err)
	}
	defer f.Close()
	var out []Mount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 6 || sep < 6 || len(fields) < sep+3 {
			continue
		}
		var m Mount
		m.ID, _ = strconv.Atoi(fields[0])
		if mm := strings.SplitN(fields[2], ":", 2); len(mm) == 2 {
			ma, _ := strconv.ParseUint(mm[0], 10, 32)
			mi, _ := strconv.ParseUint(mm[1], 10, 32)
			m.Major, m.Minor = uint32(ma), uint32(mi)
		}
		m.Root = unescapeMount(fields[3])
		m.MountPoint = unescapeMount(fields[4])
		m.Options = fields[5]
		m.FSType = fields[sep+1]
		m.Source = unescapeMount(fields[sep+2])
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo %s: %w", path, err)
	}
	return out, nil
}

// unescapeMount undoes the octal escapes (\040 for space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// MountFor returns the mount holding path p (the longest mount point that
// is p or a parent of it; the last such line wins, as the kernel stacks).
func MountFor(mounts []Mount, p string) (Mount, bool) {
	p = filepath.Clean(p)
	best, found := Mount{}, false
	for _, m := range mounts {
		mp := filepath.Clean(m.MountPoint)
		if p == mp || mp == "/" || strings.HasPrefix(p, mp+"/") {
			if !found || len(mp) >= len(best.MountPoint) {
				best, found = m, true
			}
		}
	}
	return best, found
}

// Identity says which card a mount is, so that a re-inserted card is
// recognised. UUID and Label come from the filesystem when it has them;
// Fingerprint is always computed from the card's content.
type Identity wire.CardIdentity // the fields of the served document, with the methods below

// Key is the card's identity for "seen before": the filesystem UUID with
// the content fingerprint (a re-formatted or re-used card with the same
// UUID but new footage is a new card), or the fingerprint alone.
func (id Identity) Key() string {
	if id.UUID != "" {
		return "uuid:" + id.UUID + "/" + id.Fingerprint
	}
	return "fp:" + id.Fingerprint
}

// DisplayLabel is a human name for the card: its label, else its UUID,
// else the start of its fingerprint.
func (id Identity) DisplayLabel() string {
	switch {
	case id.Label != "":
		return id.Label
	case id.UUID != "":
		return id.UUID
	}
	return "card-" + id.Fingerprint[:min(12, len(id.Fingerprint))]
}

// IdentifyOptions are the system paths Identify reads; zero values mean the
// real ones.
type IdentifyOptions struct {
	Mountinfo string // default /proc/self/mountinfo
	DiskDir   string // default /dev/disk (by-uuid, by-label)
	Blkid     string // default blkid from PATH; "-" disables it
}

// Identify finds the filesystem identity and content fingerprint of the
// card mounted at root.
func Identify(root string, opts IdentifyOptions) (Identity, error) {
	if opts.Mountinfo == "" {
		opts.Mountinfo = "/proc/self/mountinfo"
	}
	if opts.DiskDir == "" {
		opts.DiskDir = "/dev/disk"
	}
	var id Identity
	layout, err := Detect(root)
	if err != nil {
		return id, err
	}
	id.Layout = layout
	if mounts, err := ParseMountinfo(opts.Mountinfo); err == nil {
		if m, ok := MountFor(mounts, root); ok && strings.HasPrefix(m.Source, "/dev/") {
			id.Device, id.FSType = m.Source, m.FSType
			id.UUID = linkNameFor(filepath.Join(opts.DiskDir, "by-uuid"), m)
			id.Label = linkNameFor(filepath.Join(opts.DiskDir, "by-label"), m)
			if (id.UUID == "" || id.Label == "") && opts.Blkid != "-" {
				u, l := blkid(opts.Blkid, m.Source)
				if id.UUID == "" {
					id.UUID = u
				}
				if id.Label == "" {
					id.Label = l
				}
			}
		} else if ok {
			id.FSType = m.FSType
		}
	}
	id.Fingerprint, err = Fingerprint(root, layout, 0)
	if err != nil {
		return id, err
	}
	return id, nil
}

// linkNameFor finds the udev symlink (by-uuid/by-label) pointing at the
// mount's device, by path or by device number.
func linkNameFor(dir string, m Mount) string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	src, _ := filepath.EvalSymlinks(m.Source)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			continue
		}
		if target == m.Source || (src != "" && target == src) || sameDevNumber(target, m) {
			return unescapeUdev(e.Name())
		}
	}
	return ""
}

// unescapeUdev undoes udev's \x20-style escapes in by-label names.
func unescapeUdev(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func blkid(bin, dev string) (uuid, label string) {
	if bin == "" {
		p, err := exec.LookPath("blkid")
		if err != nil {
			return "", ""
		}
		bin = p
	}
	// -c /dev/null: probe the device itself, never blkid's cache, which
	// keeps the label of the card a loop or card-reader device held before.
	out, err := exec.Command(bin, "-c", "/dev/null", "-o", "export", dev).Output()
	if err != nil {
		return "", ""
	}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch k {
		case "UUID":
			uuid = v
		case "LABEL":
			label = unescapeExport(v)
		}
	}
	return uuid, label
}

// unescapeExport undoes the shell escaping of `blkid -o export` values:
// a backslash before any character (space, <, &, ", ', $ ...) stands for
// that character.
func unescapeExport(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// Fingerprint hashes the layout and the sorted relative paths, sizes and
// modification times of the first max files (in path order) of a card:
// stable across re-insertion, different once the card holds other footage.
func Fingerprint(root string, layout Layout, max int) (string, error) {
	if max <= 0 {
		max = 256
	}
	type rec struct {
		rel   string
		size  int64
		mtime time.Time
	}
	var recs []rec
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("fingerprint %s: %w", p, err)
		}
		if d.IsDir() {
			// Things the OS or we may add to a card must not change it.
			if p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "System Volume Information" || d.Name() == "lost+found") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("fingerprint %s: %w", p, err)
		}
		rel, _ := filepath.Rel(root, p)
		recs = append(recs, rec{filepath.ToSlash(rel), info.Size(), info.ModTime()})
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].rel < recs[j].rel })
	h := sha256.New()
	fmt.Fprintf(h, "ingestd-card-fingerprint-v1\x00%s\x00%d\x00", layout, len(recs))
	for i, r := range recs {
		if i == max {
			break
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00", r.rel, r.size, r.mtime.Unix())
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}
