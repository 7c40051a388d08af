package catalog

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Space: the catalog's last line of defence against a full disk.
//
// Badger writes its memtable logs and tables through memory maps, and a
// page of a mapped file that the filesystem cannot allocate is a SIGBUS
// that kills the process, not an error. The daemon's disk guard pauses
// the writers at disk.min_free, checking every few seconds; a disk that
// fills faster than that (another process writing to it) would still
// reach Badger. So every group commit first checks that the catalog's
// filesystem keeps Options.Reserve free (one statfs, about a microsecond,
// per batch of up to hundreds of changes) and fails the
// batch with ErrNoSpace otherwise: nothing is written, so nothing is torn,
// and the writers get an error naming the free space (the ingest leaves
// the file for its next walk). The default reserve holds what Badger may
// still map in without a new commit: the rest of the memtable log being
// filled (16 MiB, sparse until written) and the next one, a memtable
// flush (8 MiB) and a compaction's first tables (2 MiB each).

// ErrNoSpace is returned for a change refused because the catalog's
// filesystem has less free space than its reserve.
var ErrNoSpace = errors.New("catalog: filesystem nearly full")

// DefaultReserve is the free space a commit needs when Options.Reserve is 0.
const DefaultReserve = 32 << 20

// checkSpace is nil when a commit may write.
func (c *Catalog) checkSpace() error {
	reserve := c.opts.Reserve
	if reserve < 0 {
		return nil
	}
	if reserve == 0 {
		reserve = DefaultReserve
	}
	var st unix.Statfs_t
	if err := unix.Statfs(c.dir, &st); err != nil {
		return nil // cannot tell: the disk guard and Badger's own errors decide
	}
	if free := st.Bavail * uint64(st.Bsize); free < uint64(reserve) {
		return fmt.Errorf("%w: %s has %d bytes free, below the %d the catalog keeps in reserve (free space there; nothing was written)",
			ErrNoSpace, c.dir, free, reserve)
	}
	return nil
}

// closeDB closes Badger, unless the filesystem is below the reserve: then
// Badger's close, which flushes the memtable into a new memory-mapped
// table, would fault (SIGBUS) on pages the filesystem cannot allocate.
// The catalog is left to the process's exit instead: every committed
// change is in the memtable's synced log, which the next Open replays,
// as after a kill -9. (Without syncing, NoSyncWrites, it always closes.)
func (c *Catalog) closeDB() error {
	if !c.opts.NoSyncWrites {
		if err := c.checkSpace(); err != nil {
			c.log.Warn("not closing the catalog's store on a full filesystem: the next start replays its log", "err", err)
			return nil
		}
	}
	return c.db.Close()
}
