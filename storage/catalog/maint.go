package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// RunGC is the catalog maintenance service: every GCInterval it runs Badger
// value-log GC (discard ratio 0.5), repeating while a file was rewritten,
// since Badger reclaims value-log space only when asked. It returns
// ctx.Err() when ctx ends.
//
// Catalog records are far below Badger's 1 MiB value threshold, so they
// live in the LSM tree and overwritten versions are dropped by compaction;
// the value log only holds values that large, and GC usually finds
// nothing to rewrite.
func (c *Catalog) RunGC(ctx context.Context) error {
	t := time.NewTicker(c.opts.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return ErrClosed
		case <-t.C:
			n, err := c.gc(ctx)
			if err != nil {
				c.log.Warn("value-log gc", "err", err)
			} else if n > 0 {
				c.log.Info("value-log gc", "rewritten", n)
			}
		}
	}
}

// gc runs value-log GC until Badger finds nothing to rewrite, and returns
// how many files it rewrote.
func (c *Catalog) gc(ctx context.Context) (int, error) {
	for n := 0; ; n++ {
		if ctx.Err() != nil {
			return n, nil
		}
		err := c.db.RunValueLogGC(0.5)
		switch {
		case err == nil:
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			return n, nil
		default:
			return n, fmt.Errorf("catalog %s: %w", c.dir, err)
		}
	}
}

// Size returns the bytes of Badger's LSM tree and value log.
func (c *Catalog) Size() (lsm, vlog int64) { return c.db.Size() }

// Backup writes a full backup of the catalog (Badger's backup stream) to
// w while the catalog stays open.
func (c *Catalog) Backup(w io.Writer) error {
	if _, err := c.db.Backup(w, 0); err != nil {
		return fmt.Errorf("backup catalog %s: %w", c.dir, err)
	}
	return nil
}

// Restore loads a stream written by Backup into a new catalog in dir,
// which must not exist or be empty: it never merges into an existing
// catalog.
func Restore(dir string, r io.Reader) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("restore catalog %s: %w", dir, err)
	case len(ents) > 0:
		return fmt.Errorf("restore catalog %s: directory is not empty", dir)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("restore catalog %s: %w", dir, err)
	}
	// Open Badger directly (a Catalog would write its identity). Badger
	// syncs each write itself here: a restore is one-off and has no concurrent
	// writers to share syncs with.
	db, err := badger.Open(badgerOptions(dir, true, slog.Default()))
	if err != nil {
		return fmt.Errorf("restore catalog %s: %w", dir, err)
	}
	if err := db.Load(r, 256); err != nil {
		db.Close()
		return fmt.Errorf("restore catalog %s: load: %w", dir, err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("restore catalog %s: %w", dir, err)
	}
	return nil
}
