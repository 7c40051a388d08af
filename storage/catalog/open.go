package catalog

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/ingestd/ingestd/storage"
)

// ErrClosed is returned by calls on a closed catalog.
var ErrClosed = errors.New("catalog closed")

// Defaults used when Options leaves a field zero.
const (
	DefaultGCInterval = 10 * time.Minute
	// seqBandwidth is how many event numbers one Badger sequence lease
	// covers; a crash skips at most this many.
	seqBandwidth = 100
	// maxHistory caps Location.History; the oldest versions are dropped.
	maxHistory = 100
)

// Options configure Open. The zero value is the production setting: every
// commit is synced to disk, so a power cut loses nothing acknowledged.
type Options struct {
	// NoSyncWrites turns off the fsync per commit. Only for tests and
	// benchmarks: a power cut may then lose acknowledged changes.
	NoSyncWrites bool
	// Logger receives the catalog's logs (component=catalog) and Badger's
	// own warnings and errors (component=badger). nil: slog.Default().
	Logger *slog.Logger
	// GCInterval is how often RunGC runs value-log GC (default 10m).
	GCInterval time.Duration
}

// Catalog is an open Badger catalog. It is safe for concurrent use. All
// writes are serialised by one mutex, which also allocates event sequence
// numbers, so events become visible strictly in seq order.
type Catalog struct {
	dir  string
	db   *badger.DB
	seq  *badger.Sequence
	log  *slog.Logger
	opts Options

	mu     sync.Mutex // serialises writes and seq allocation
	closed bool

	last     atomic.Uint64 // highest committed event seq
	notifyMu sync.Mutex
	notify   chan struct{} // closed and replaced after each commit with events
	done     chan struct{} // closed by Close

	closeOnce sync.Once
	closeErr  error
}

// badgerOptions sizes Badger for a small edge box.
func badgerOptions(dir string, opts Options, log *slog.Logger) badger.Options {
	return badger.DefaultOptions(dir).
		WithSyncWrites(!opts.NoSyncWrites).
		WithLogger(badgerLogger{log.With("component", "badger")}).
		WithLoggingLevel(badger.WARNING).
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithBlockCacheSize(32 << 20).
		WithIndexCacheSize(16 << 20).
		WithValueLogFileSize(128 << 20).
		WithNumCompactors(2)
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
	db, err := badger.Open(badgerOptions(dir, opts, opts.Logger))
	if err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) || strings.Contains(err.Error(), "Another process is using this Badger database") {
			return nil, fmt.Errorf("catalog %s is in use by another process: %w", dir, err)
		}
		return nil, fmt.Errorf("open catalog %s: %w", dir, err)
	}
	c := &Catalog{
		dir:    dir,
		db:     db,
		log:    opts.Logger.With("component", "catalog"),
		opts:   opts,
		notify: make(chan struct{}),
		done:   make(chan struct{}),
	}
	last, err := c.readLastSeq()
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open catalog %s: read last event: %w", dir, err)
	}
	c.last.Store(last)
	c.seq, err = db.GetSequence([]byte(keySeq), seqBandwidth)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open catalog %s: event sequence: %w", dir, err)
	}
	c.log.Debug("catalog open", "dir", dir, "last_seq", last)
	return c, nil
}

func (c *Catalog) readLastSeq() (uint64, error) {
	var last uint64
	err := c.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: []byte(pfxEvent)})
		defer it.Close()
		// In reverse mode Seek finds the largest key <= the seek key.
		it.Seek(eventKey(^uint64(0)))
		if it.ValidForPrefix([]byte(pfxEvent)) {
			last = eventSeq(it.Item().Key())
		}
		return nil
	})
	return last, err
}

// Close releases the sequence lease and closes Badger. Waiters return
// ErrClosed. Close is idempotent.
func (c *Catalog) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		close(c.done)
		var errs []error
		if err := c.seq.Release(); err != nil {
			errs = append(errs, fmt.Errorf("release event sequence: %w", err))
		}
		if err := c.db.Close(); err != nil {
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
			c.closeErr = fmt.Errorf("close catalog %s: %w", c.dir, err)
		}
	})
	return c.closeErr
}

// txw is the write side of one transaction: records plus the events they
// produce, committed together.
type txw struct {
	c      *Catalog
	txn    *badger.Txn
	now    time.Time
	events []storage.Event
}

// emit numbers e, stamps its time and stores it in the transaction.
func (w *txw) emit(e storage.Event) error {
	seq, err := w.c.nextSeq()
	if err != nil {
		return err
	}
	e.Seq = seq
	if e.Time.IsZero() {
		e.Time = w.now
	}
	if err := w.setJSON(eventKey(seq), e, 0); err != nil {
		return err
	}
	w.events = append(w.events, e)
	return nil
}

func (w *txw) setJSON(key []byte, v any, meta byte) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", key, err)
	}
	e := badger.NewEntry(key, b)
	if meta != 0 {
		e = e.WithMeta(meta)
	}
	return w.txn.SetEntry(e)
}

// nextSeq returns the next event number, above every committed one. Called
// with c.mu held.
func (c *Catalog) nextSeq() (uint64, error) {
	last := c.last.Load()
	for {
		n, err := c.seq.Next()
		if err != nil {
			return 0, fmt.Errorf("next event seq: %w", err)
		}
		// A fresh sequence starts at 0, and seq 0 means "before the
		// first event" to readers; never hand out a number at or below
		// a committed one.
		if n > last {
			return n, nil
		}
	}
}

// write runs fn in one read-write transaction under the write mutex,
// retrying on conflict, and publishes the events it emitted.
func (c *Catalog) write(fn func(w *txw) error) ([]storage.Event, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	for attempt := 0; ; attempt++ {
		w := &txw{c: c, now: time.Now().UTC()}
		err := c.db.Update(func(txn *badger.Txn) error {
			w.txn = txn
			return fn(w)
		})
		if errors.Is(err, badger.ErrConflict) && attempt < 16 {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n := len(w.events); n > 0 {
			c.last.Store(w.events[n-1].Seq)
			c.notifyMu.Lock()
			close(c.notify)
			c.notify = make(chan struct{})
			c.notifyMu.Unlock()
		}
		return w.events, nil
	}
}

// getJSON reads key into v; a missing key is storage.ErrNotFound.
func getJSON(txn *badger.Txn, key []byte, v any) (found bool, err error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, item.Value(func(b []byte) error { return json.Unmarshal(b, v) })
}

// ApplianceID settles the appliance id: a configured one is stored and
// returned; otherwise the stored one, generated ("edge-" + 8 hex digits) on
// first use.
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
