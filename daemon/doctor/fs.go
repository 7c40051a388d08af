package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/daemon/config"
)

// Where the kernel's inotify limits are read (a variable for tests).
var procInotify = "/proc/sys/fs/inotify"

func readProcInt(name string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(procInotify, name))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// countDirs counts directories under root (root included), without
// following symbolic links, stopping after limit or at the deadline.
func countDirs(root string, limit int, deadline time.Time) (n int, complete bool) {
	complete = true
	errStop := errors.New("stop")
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable subtrees are reported by the volume check
		}
		if d.IsDir() {
			n++
			if n >= limit || (n%1024 == 0 && time.Now().After(deadline)) {
				complete = false
				return errStop
			}
		}
		return nil
	})
	return n, complete
}

func checkInotify(cfg *config.Config) []Finding {
	watches, err := readProcInt("max_user_watches")
	if err != nil {
		return []Finding{{Check: "inotify", Level: Warn, Message: "cannot read the inotify limits: " + err.Error(), Fix: "run doctor on the appliance itself (Linux)"}}
	}
	instances, _ := readProcInt("max_user_instances")
	dirs, complete := 0, true
	deadline := time.Now().Add(60 * time.Second)
	for _, v := range cfg.Volumes {
		n, c := countDirs(v.Path, int(watches)+1, deadline)
		dirs += n
		complete = complete && c
	}
	approx := ""
	if !complete {
		approx = "at least "
	}
	msg := fmt.Sprintf("%s%d directories to watch under %d volumes; fs.inotify.max_user_watches = %d, max_user_instances = %d",
		approx, dirs, len(cfg.Volumes), watches, instances)
	want := max(524288, int64(dirs)*2)
	fix := fmt.Sprintf("raise the limit: echo 'fs.inotify.max_user_watches = %d' > /etc/sysctl.d/90-ingestd.conf && sysctl --system", want)
	switch {
	case int64(dirs) >= watches:
		return []Finding{{Check: "inotify", Level: Fail, Message: msg + ": the limit is reached, volumes fall back to walking every rescan (slow to notice new files)", Fix: fix}}
	case int64(dirs)*10 >= watches*8:
		return []Finding{{Check: "inotify", Level: Warn, Message: msg + ": over 80% of the limit (other programs of the same user share it)", Fix: fix}}
	case instances > 0 && instances < 8:
		return []Finding{{Check: "inotify", Level: Warn, Message: msg + ": few instances left for other programs", Fix: "echo 'fs.inotify.max_user_instances = 128' > /etc/sysctl.d/90-ingestd.conf && sysctl --system"}}
	}
	return []Finding{{Check: "inotify", Level: OK, Message: msg}}
}

func checkStateDir(cfg *config.Config, minFree uint64) []Finding {
	dir := cfg.StateDir
	const chk = "state dir"
	fi, err := os.Stat(dir)
	probeDir := dir
	note := ""
	switch {
	case errors.Is(err, os.ErrNotExist):
		// The daemon creates it; check the nearest existing parent instead.
		probeDir = filepath.Dir(filepath.Clean(dir))
		for {
			if _, err := os.Stat(probeDir); err == nil || probeDir == "/" || probeDir == "." {
				break
			}
			probeDir = filepath.Dir(probeDir)
		}
		note = " (does not exist yet; the daemon creates it under " + probeDir + ")"
	case err != nil:
		return []Finding{{Check: chk, Level: Fail, Message: fmt.Sprintf("%s: %v", dir, err), Fix: "make " + dir + " reachable by the ingestd user"}}
	case !fi.IsDir():
		return []Finding{{Check: chk, Level: Fail, Message: dir + " is not a directory", Fix: "point state_dir at a directory"}}
	}
	// Writable: create and remove a probe file. Nothing in the catalog is
	// opened, so a running daemon (which holds Badger's lock) is no obstacle.
	f, err := os.CreateTemp(probeDir, ".ingestd-doctor-*")
	if err != nil {
		return []Finding{{Check: chk, Level: Fail, Message: fmt.Sprintf("%s is not writable%s: %v", dir, note, err),
			Fix: "chown -R ingestd:ingestd " + dir + " (the service user), or under systemd add it to ReadWritePaths="}}
	}
	_, werr := f.Write([]byte("ingestd doctor probe\n"))
	if werr == nil {
		werr = f.Sync()
	}
	f.Close()
	os.Remove(f.Name())
	if werr != nil {
		return []Finding{{Check: chk, Level: Fail, Message: fmt.Sprintf("writing in %s failed: %v", probeDir, werr), Fix: "free space on, or repair, the filesystem holding " + dir}}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(probeDir, &st); err != nil {
		return []Finding{{Check: chk, Level: Warn, Message: fmt.Sprintf("%s writable; statfs failed: %v", dir, err)}}
	}
	free := st.Bavail * uint64(st.Bsize)
	total := st.Blocks * uint64(st.Bsize)
	typ := fsName(probeDir, st.Type)
	msg := fmt.Sprintf("%s writable%s; %s free of %s on %s", dir, note, human(free), human(total), typ)
	fix := "free space on that filesystem, or move state_dir (catalog and proxies) to a larger disk"
	local := "move state_dir to a local disk (e.g. the default /var/lib/ingestd); volumes may stay on the NAS"
	switch {
	case free < minFree:
		return []Finding{{Check: chk, Level: Fail, Message: msg + fmt.Sprintf(": below %s, the catalog and proxies cannot be written safely", human(minFree)), Fix: fix}}
	case isRemote(typ):
		// Badger memory-maps its files and locks the folder with flock:
		// over NFS/SMB/FUSE the lock may not be seen by another host (two
		// appliances on one share open the same catalog) and a server
		// hiccup faults a mapped page (SIGBUS).
		return []Finding{{Check: chk, Level: Warn, Message: msg + ": the catalog is memory-mapped and locked with flock, which a network or FUSE filesystem does not guarantee (a second host can open the same catalog; a server hiccup crashes the daemon)", Fix: local}}
	case free < 8*minFree || (total > 0 && free*20 < total):
		return []Finding{{Check: chk, Level: Warn, Message: msg + ": running low", Fix: fix}}
	}
	return []Finding{{Check: chk, Level: OK, Message: msg}}
}

// Filesystem types whose changes by other hosts produce no inotify events.
var remoteTypes = map[string]bool{"nfs": true, "nfs4": true, "cifs": true, "smb3": true, "smbfs": true, "smb2": true, "9p": true, "ceph": true, "glusterfs": true, "afs": true}

func isRemote(typ string) bool {
	return remoteTypes[typ] || typ == "fuse" || strings.HasPrefix(typ, "fuse.") || typ == "fuseblk"
}

func checkVolumes(cfg *config.Config) []Finding {
	var fs []Finding
	for i, v := range cfg.Volumes {
		chk := "volume " + v.Name
		key := fmt.Sprintf("volumes[%d].path", i)
		fi, err := statTimeout(v.Path, 15*time.Second)
		switch {
		case err != nil:
			fs = append(fs, Finding{Check: chk, Level: Fail, Message: fmt.Sprintf("%s: %v", v.Path, err),
				Fix: "mount the share (check /etc/fstab and `mount " + v.Path + "`) or correct " + key})
			continue
		case !fi.IsDir():
			fs = append(fs, Finding{Check: chk, Level: Fail, Message: v.Path + " is not a directory", Fix: "correct " + key})
			continue
		}
		d, err := os.Open(v.Path)
		if err == nil {
			_, err = d.Readdirnames(1)
			d.Close()
			if errors.Is(err, io.EOF) {
				err = nil
			}
		}
		if err != nil {
			fs = append(fs, Finding{Check: chk, Level: Fail, Message: fmt.Sprintf("%s is not readable: %v", v.Path, err),
				Fix: "give the ingestd user read access (group membership or share permissions)"})
			continue
		}
		var st unix.Statfs_t
		typ := "unknown"
		if err := unix.Statfs(v.Path, &st); err == nil {
			typ = fsName(v.Path, st.Type)
		}
		mp, mtype, src := mountOf(v.Path)
		if mtype != "" {
			typ = mtype
		}
		where := ""
		if mp != "" {
			where = fmt.Sprintf(" (mount %s from %s)", mp, src)
		}
		marker := ""
		if _, err := os.Lstat(filepath.Join(v.Path, ".ingestd-volume")); err == nil {
			marker = "; adopted (.ingestd-volume present)"
		}
		msg := fmt.Sprintf("%s reachable, %s%s%s", v.Path, typ, where, marker)
		if isRemote(typ) {
			fs = append(fs, Finding{Check: chk, Level: Warn,
				Message: msg + fmt.Sprintf(": files written by other hosts or the NAS itself produce no inotify events; they are found by the reconcile walk every %s", cfg.Rescan),
				Fix:     "expected for a NAS share; lower rescan: (now " + cfg.Rescan.String() + ") if new files must appear sooner"})
			continue
		}
		fs = append(fs, Finding{Check: chk, Level: OK, Message: msg})
	}
	if len(cfg.Volumes) == 0 {
		fs = append(fs, Finding{Check: "volumes", Level: Warn, Message: "no volumes configured: nothing is ingested", Fix: "add volumes: entries with name and path"})
	}
	return fs
}

// statTimeout stats path, giving up after d (a hung NFS mount blocks stat).
func statTimeout(path string, d time.Duration) (os.FileInfo, error) {
	type res struct {
		fi  os.FileInfo
		err error
	}
	ch := make(chan res, 1)
	go func() { fi, err := os.Stat(path); ch <- res{fi, err} }()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	select {
	case r := <-ch:
		return r.fi, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("not responding within %s (hung mount?)", d)
	}
}

// mountOf finds the mount holding path in /proc/self/mountinfo: its mount
// point, filesystem type and source.
func mountOf(path string) (mountPoint, fstype, source string) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", "", ""
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	mounts, err := cards.ParseMountinfo("/proc/self/mountinfo")
	if err != nil {
		return "", "", ""
	}
	m, ok := cards.MountFor(mounts, abs)
	if !ok {
		return "", "", ""
	}
	return m.MountPoint, m.FSType, m.Source
}

// Filesystem magic numbers (statfs f_type), from linux/magic.h.
var magics = map[int64]string{
	0xEF53: "ext4", 0x58465342: "xfs", 0x9123683E: "btrfs", 0x01021994: "tmpfs", 0x2FC12FC1: "zfs",
	0x6969: "nfs", 0xFF534D42: "cifs", 0xFE534D42: "smb2", 0x517B: "smbfs", 0x65735546: "fuse",
	0x794C7630: "overlay", 0x7366746E: "ntfs3", 0x5346544E: "ntfs", 0x2011BAB0: "exfat", 0x4d44: "vfat",
	0x01021997: "9p", 0x00C36400: "ceph", 0x65735543: "fusectl", 0xF15F: "ecryptfs", 0x3153464A: "jfs",
	0x52654973: "reiserfs", 0xCAFE4A11: "bpf", 0x858458F6: "ramfs", 0x73717368: "squashfs",
}

// fsName names a statfs type, preferring mountinfo's (which tells fuse
// subtypes such as fuse.sshfs apart).
func fsName(path string, magic int64) string {
	if _, t, _ := mountOf(path); t != "" {
		return t
	}
	if n, ok := magics[magic]; ok {
		return n
	}
	return fmt.Sprintf("fs type 0x%x", magic)
}

func human(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB", "PiB"} {
		f /= unit
		if f < unit || u == "PiB" {
			return fmt.Sprintf("%.1f %s", f, u)
		}
	}
	return ""
}

// checkCatalog reports the catalog's size on disk and whether a daemon
// holds it, from Badger's LOCK pid file, without opening or locking it.
func checkCatalog(dir string) Finding {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return Finding{Check: "catalog", Level: OK, Message: dir + " does not exist yet (created at the first start, or by ingestd restore)"}
	}
	if err != nil {
		return Finding{Check: "catalog", Level: Fail, Message: fmt.Sprintf("%s: %v", dir, err), Fix: "give the ingestd user access to " + dir}
	}
	var size int64
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			size += fi.Size()
		}
	}
	msg := fmt.Sprintf("%s: %s in %d files", dir, human(uint64(size)), len(ents))
	b, err := os.ReadFile(filepath.Join(dir, "LOCK"))
	if err != nil {
		return Finding{Check: "catalog", Level: OK, Message: msg + "; not open (no daemon running on it)"}
	}
	pid := strings.TrimSpace(string(b))
	if _, err := os.Stat("/proc/" + pid); err == nil && pid != "" {
		return Finding{Check: "catalog", Level: OK, Message: msg + "; held by a running daemon (pid " + pid + ")"}
	}
	return Finding{Check: "catalog", Level: OK, Message: msg + "; not open (stale LOCK of pid " + pid + " from an unclean stop; Badger recovers at the next start)"}
}
