package catalog

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/ingestd/ingestd/storage"
)

// ErrClosed is returned by calls on a closed catalog.
var ErrClosed = errors.New("catalog closed")

// Defaults used when Options leaves a field zero.
const (
	DefaultGCInterval = 10 * time.Minute
	// maxHistory caps Location.History; the oldest versions are dropped.
	maxHistory = 100
)

// Options configure Open. The zero value is the production setting: no
// write returns before it is synced to disk, so a power cut loses nothing
// acknowledged.
type Options struct {
	// NoSyncWrites turns off syncing entirely. Only for tests and
	// benchmarks: a power cut may then lose acknowledged changes.
	NoSyncWrites bool
	// Logger receives the catalog's logs (component=catalog) and Badger's
	// own warnings and errors (component=badger). nil: slog.Default().
	Logger *slog.Logger
	// GCInterval is how often RunGC runs value-log GC (default 10m).
	GCInterval time.Duration
	// IdentityFile, when set, is the catalog identity file outside the
	// Badger directory (identity.go): Open refuses a catalog that does not
	// match it (*IdentityError), creates or adopts it when it is absent,
	// and Close and RunIdentity record the last seq in it.
	IdentityFile string
	// Reserve is the free space, in bytes, the catalog's filesystem must
	// keep for a change to be committed (space.go): 0 is DefaultReserve,
	// a negative value turns the check off (tests).
	Reserve int64
	// KeepMapped turns off trimming Badger's memory-mapped files out of
	// the process's resident set (trim.go). Only for benchmarks that
	// measure what the trim saves.
	KeepMapped bool
}

// tableCompression is the compression of the tables Badger writes from now
// on (tests set Snappy, the setting before, to check old catalogs still
// read).
var tableCompression = options.None

// badgerOptions sizes Badger for a small edge box. syncWrites makes Badger
// sync every commit itself; the catalog passes false and syncs in groups
// (see Catalog).
//
// Memory (issue 15): tables are not compressed and there is no block
// cache. With Snappy every table Badger built (a memtable flush, a
// compaction) held compressed copies of its blocks in memory besides the
// plain ones, and every read decompressed a block into the 32 MiB cache;
// without it reads come straight from the mapped table files (the page
// cache) and a first ingest or a restart needs far less anonymous memory
// (bench/ingest.sh: a restart on 100k files 118 -> 44 MB anonymous). The
// tables take about 2.3x the disk (JSON records: ~1.2 KB per file). Tables
// written with Snappy before keep it (Badger records each table's
// compression in its manifest) and still read.
// Memtables of 8 MiB (two) and tables of 1 MiB (issue 15): Badger
// builds a whole table in memory before writing it, growing its buffer by
// doubling, so a memtable flush of 16 MiB held ~76 MB of heap and
// compactions of 2 MiB tables ~28 MB; with 8 MiB and 1 MiB the heap in use
// at the end of a first ingest of 100k files went from 135 to 92 MB
// (bench/ingest). More, smaller L0 flushes cost a little compaction CPU.
//
// Compactions (issue 15): every memtable flush holds keys from the whole key
// range (content ids, paths, events), so each L0 -> base level compaction
// rewrites the base level. Letting 10 tables wait in L0 (Badger: 5) and a
// base level of 64 MiB (Badger: 10 MiB) rewrite less often: a first ingest
// of 300k files in the in-process harness took 27% less CPU (30-36 s
// against 41-49 s) and peaked 25% lower (323-330 MB against 374-433 MB).
//
// Values stay in the LSM tree (Badger's default value threshold, 1 MiB;
// issue 15). Key-value separation (WithValueThreshold(64): every record in
// the value log, the tree holding keys and pointers) was measured at a
// million files with bench/ingest_daemon.sh: the first ingest took 25% less
// CPU (128 against 169 s) and the mapped tables peaked at 215 MB instead of
// 602, but it is not crash-safe with SyncWrites off, which group commit
// needs: a memtable's log or a flushed table can reach the disk before the
// value-log pages its pointers point to (Badger #1954, #2000: after a power
// cut a key whose value cannot be read, in an unacknowledged transaction,
// and nothing at Open finds it), and value-log GC deletes a rewritten file
// without syncing the values it moved (acknowledged records lost to a power
// cut after a GC). Reads pay too: a value-log read maps 64 KiB around it
// (the kernel's fault-around), so paging assets in id order, whose records
// lie all over the value log, ran the mapped files up to 744 MB.
const (
	memTableSize  = 8 << 20
	baseTableSize = 1 << 20
	numL0         = 10
	baseLevelSize = 64 << 20
)

func badgerOptions(dir string, syncWrites bool, log *slog.Logger) badger.Options {
	o := badger.DefaultOptions(dir).
		WithSyncWrites(syncWrites).
		WithLogger(badgerLogger{log.With("component", "badger")}).
		WithLoggingLevel(badger.WARNING).
		WithMemTableSize(memTableSize).
		WithNumMemtables(2).
		WithBaseTableSize(baseTableSize).
		WithCompression(tableCompression).
		WithBlockCacheSize(0).
		WithIndexCacheSize(16 << 20).
		WithValueLogFileSize(128 << 20).
		WithNumLevelZeroTables(numL0).
		WithNumLevelZeroTablesStall(numL0 + 10).
		WithBaseLevelSize(baseLevelSize).
		WithNumCompactors(3).     // a third keeps the base level nearer its target while L0 drains (1M peak 391-451 -> 390-403 MB)
		WithMetricsEnabled(false) // expvar counters nothing reads (~2% of a first ingest's CPU)
	// Tables of 1 MiB on every level (Badger's default doubles them per
	// level): a compaction's table builders, each holding a whole table in
	// the Go heap until it is written, stay small, as do the tables a
	// compaction maps. At 1M files: peak RSS 435-544 -> 391-451 MB, CPU
	// no higher (docs/scale.md).
	o.TableSizeMultiplier = 1
	if tableCompression != options.None {
		o = o.WithBlockCacheSize(32 << 20) // Badger requires one with compression
	}
	return o
}

// Open opens (creating if needed) the catalog in dir. Only one process may
// have a catalog open; a second Open fails with an error saying so.
func Open(dir string, opts Options) (*Catalog, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.GCInterval <= 0 {
		opts.GCInterval = DefaultGCInterval
	}
	var want *Identity
	if opts.IdentityFile != "" {
		var err error
		if want, err = ReadIdentity(opts.IdentityFile); err != nil {
			return nil, &IdentityError{Dir: dir, File: opts.IdentityFile, Reason: fmt.Sprintf("%v (remove the file to adopt the catalog as it is)", err)}
		}
	}
	// Look before Badger does: it "repairs" a missing or cut MANIFEST by
	// deleting tables. Under Badger's own directory lock, so a running
	// daemon's MANIFEST is never read half-written.
	release, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("catalog %s is in use by another process: %w", dir, err)
	}
	err = preOpenCheck(dir, opts.IdentityFile, want)
	release()
	if err != nil {
		return nil, err
	}
	db, err := badger.Open(badgerOptions(dir, false, opts.Logger))
	if err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) || strings.Contains(err.Error(), "Another process is using this Badger database") {
			return nil, fmt.Errorf("catalog %s is in use by another process: %w", dir, err)
		}
		return nil, fmt.Errorf("open catalog %s: %w", dir, err)
	}
	c := &Catalog{
		dir:       dir,
		db:        db,
		log:       opts.Logger.With("component", "catalog"),
		opts:      opts,
		notify:    make(chan struct{}),
		done:      make(chan struct{}),
		broken:    make(chan struct{}),
		committed: make(chan struct{}, 1),
		token:     make(chan struct{}, 1),
	}
	c.syncEnd = sync.NewCond(&c.syncMu)
	c.syncFn = c.syncLogs
	if !opts.NoSyncWrites {
		// What Badger replays may come from a killed process's page
		// cache, not yet on disk: sync every log once before anything
		// is read, so no event is published that a power cut could take
		// back.
		if err := c.syncLogs(); err != nil {
			db.Close()
			return nil, fmt.Errorf("open catalog %s: sync: %w", dir, err)
		}
	}
	last, err := c.readLastSeq()
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open catalog %s: read last event: %w", dir, err)
	}
	c.last.Store(last)
	c.head.Store(&commitMark{seq: last})
	if opts.IdentityFile != "" {
		// A refused catalog is closed as it was found (nothing written).
		if err := c.settleIdentity(want); err != nil {
			db.Close()
			return nil, err
		}
	}
	if err := c.backfillAssetEvents(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open catalog %s: %w", dir, err)
	}
	var keys uint64
	for _, t := range db.Tables() {
		keys += uint64(t.KeyCount)
	}
	c.ids = newIDFilter(keys)
	c.pins.Add(1)
	go c.fillIDFilter()
	if !opts.KeepMapped {
		c.pins.Add(1)
		go c.renewPin()
		go c.runTrim()
	}
	c.log.Debug("catalog open", "dir", dir, "last_seq", last)
	return c, nil
}

// readLastSeq returns the last committed event seq: the larger of
// m/last_seq (written with every event) and the newest event key (a
// catalog written before m/last_seq existed).
func (c *Catalog) readLastSeq() (uint64, error) {
	var last uint64
	err := c.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(keyLastSeq))
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
		case err != nil:
			return err
		default:
			if err := item.Value(func(b []byte) error {
				if len(b) != 8 {
					return fmt.Errorf("%s: %d bytes, want 8", keyLastSeq, len(b))
				}
				last = binary.BigEndian.Uint64(b)
				return nil
			}); err != nil {
				return err
			}
		}
		it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: []byte(pfxEvent)})
		defer it.Close()
		// In reverse mode Seek finds the largest key <= the seek key.
		it.Seek(eventKey(^uint64(0)))
		if it.ValidForPrefix([]byte(pfxEvent)) {
			first := eventSeq(it.Item().Key())
			var n uint64
			if err := it.Item().Value(func(b []byte) (err error) {
				n, err = eventCount(b)
				return err
			}); err != nil {
				return fmt.Errorf("newest event block %d: %w", first, err)
			}
			last = max(last, first+n-1)
		}
		return nil
	})
	return last, err
}

// Close stops new writes (they return ErrClosed, as do changes still
// queued), syncs the changes already committed so their writers return,
// and closes Badger. Waiters (Wait, Consume, RunGC) return ErrClosed. Close
// is idempotent.
func (c *Catalog) Close() error {
	c.closeOnce.Do(func() {
		c.token <- struct{}{} // no batch is being committed
		c.mu.Lock()
		c.closed = true
		queued := c.queue
		c.queue = nil
		c.mu.Unlock()
		head := c.head.Load()
		<-c.token
		for _, r := range queued {
			r.finish(nil, 0, ErrClosed)
		}
		var errs []error
		if !c.opts.NoSyncWrites {
			// No change commits any more; after this sync no writer is
			// left waiting, and none calls into Badger again.
			if err := c.syncTo(head.ticket); err != nil {
				errs = append(errs, err)
			}
		}
		close(c.done)
		c.trimMu.Lock()
		c.trimOff = true
		if c.pinTxn != nil {
			c.pinTxn.Discard()
			c.pinTxn = nil
		}
		c.trimMu.Unlock()
		c.pins.Wait() // renewPin and fillIDFilter are done with Badger
		// Record the last seq (durable by now) for the next Open's check.
		// On a full filesystem the file keeps the seq it had, a lower
		// bound the next Open accepts: a warning, not a failed close.
		if err := c.saveIdentity(); errors.Is(err, syscall.ENOSPC) {
			c.log.Warn("catalog identity not updated: filesystem full (it keeps an older last seq, which the next start accepts)", "err", err)
		} else if err != nil {
			errs = append(errs, err)
		}
		if err := c.closeDB(); err != nil {
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
			c.closeErr = fmt.Errorf("close catalog %s: %w", c.dir, err)
		}
	})
	return c.closeErr
}

// getter is a Badger transaction (*badger.Txn or a change's *wtxn).
type getter interface {
	Get(key []byte) (*badger.Item, error)
}

// getJSON reads key into v; a missing key is storage.ErrNotFound.
func getJSON(txn getter, key []byte, v any) (found bool, err error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, item.Value(func(b []byte) error { return json.Unmarshal(b, v) })
}

// getAsset reads the asset id; a missing key is found == false.
func getAsset(txn getter, id string, a *storage.Asset) (found bool, err error) {
	item, err := txn.Get(assetKey(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, item.Value(func(b []byte) error { return decodeAsset(b, id, a) })
}

// ApplianceID settles the appliance id: a configured one is stored and
// returned; otherwise the stored one, generated ("edge-" + 8 hex digits) on
// first use (with Options.IdentityFile, Open generates it). With an
// identity file, a changed id is recorded there too.
func (c *Catalog) ApplianceID(configured string) (string, error) {
	var id string
	_, err := c.write(func(w *txw) error {
		var stored string
		found, err := getJSON(w.txn, []byte(keyAppID), &stored)
		if err != nil {
			return err
		}
		switch {
		case configured != "":
			id = configured
		case found && stored != "":
			id = stored
		default:
			var b [4]byte
			if _, err := rand.Read(b[:]); err != nil {
				return err
			}
			id = "edge-" + hex.EncodeToString(b[:])
		}
		if found && id == stored {
			return nil
		}
		return w.setJSON([]byte(keyAppID), id, 0)
	})
	if err != nil {
		return "", fmt.Errorf("appliance id in catalog %s: %w", c.dir, err)
	}
	if c.opts.IdentityFile != "" {
		c.identMu.Lock()
		changed := c.ident.ApplianceID != id
		c.ident.ApplianceID = id
		c.identMu.Unlock()
		if changed {
			if err := c.saveIdentity(); err != nil {
				return "", err
			}
		}
	}
	return id, nil
}

// badgerLogger routes Badger's logger to slog. Badger is set to log
// warnings and errors only; info and debug go to slog's debug level.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) { b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (b badgerLogger) Infof(f string, a ...any) { b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Debugf(f string, a ...any) {
	b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...)))
}
