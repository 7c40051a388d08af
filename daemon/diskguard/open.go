package diskguard

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// OpenMinFree is the most CheckOpen asks for: enough for Badger's
// memory-mapped memtable and value-log pages to be written at open (WAL
// replay) and for the first minutes of ingest until the guard runs.
const OpenMinFree = 64 << 20

// CheckOpen refuses to open the catalog in stateDir while its filesystem
// has less than min(disk.min_free, OpenMinFree) free for the daemon. The
// catalog's files are memory-mapped: a page the kernel cannot back on a
// full filesystem kills the process with SIGBUS (a Go "unexpected fault
// address" trace, exit 2, restarted by systemd into the same crash), where
// this error names the path, the free space and the floor. The running
// daemon's guard (Run) pauses writers before that point; this is the same
// floor applied before anything is written. A statfs error is not an
// error here (opening the catalog reports the real problem).
func CheckOpen(stateDir string, cfg Config) error {
	if cfg.MinFree == "" {
		cfg.MinFree = DefaultMinFree
	}
	f, err := ParseFloor(cfg.MinFree)
	if err != nil {
		return fmt.Errorf("disk.min_free: %w", err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(stateDir, &st); err != nil {
		return nil
	}
	bs := uint64(st.Bsize)
	free, total := st.Bavail*bs, st.Blocks*bs
	need := min(f.Of(total), OpenMinFree)
	if free >= need {
		return nil
	}
	return fmt.Errorf("state_dir %s: %d bytes free, below the %d needed to open the catalog (disk.min_free %s, at most %d): free space on that filesystem, then start again",
		stateDir, free, need, cfg.MinFree, OpenMinFree)
}
