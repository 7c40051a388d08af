package ingest

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

const (
	testSettle = 200 * time.Millisecond
	waitLong   = 20 * time.Second
)

// harness is one pipeline over a real catalog in a temp dir.
type harness struct {
	t        *testing.T
	stateDir string
	cat      *catalog.Catalog
	p        *Pipeline
	cancel   context.CancelFunc
	done     chan error
}

type opt func(*Pipeline)

// start opens the catalog in stateDir ("" = new temp dir) and runs a
// pipeline over vols until the test ends (or stop).
func start(t *testing.T, stateDir string, cfg Config, opts ...opt) *harness {
	t.Helper()
	if stateDir == "" {
		stateDir = t.TempDir()
	}
	if cfg.Settle == 0 {
		cfg.Settle = testSettle
	}
	if cfg.Rescan == 0 {
		cfg.Rescan = time.Hour
	}
	h := &harness{t: t, stateDir: stateDir, cat: catalogtest.Open(t, stateDir), done: make(chan error, 1)}
	p, err := New(cfg, h.cat, testutil.Logger(t))
	if err != nil {
		t.Fatalf("new pipeline: %v", err)
	}
	p.checkEvery = 100 * time.Millisecond
	for _, o := range opts {
		o(p)
	}
	h.p = p
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- p.Run(ctx) }()
	t.Cleanup(h.stop)
	select {
	case <-p.Ready():
	case <-time.After(waitLong):
		t.Fatal("pipeline not ready")
	}
	return h
}

// stop cancels the pipeline, waits for Run and closes the catalog.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("run: %v", err)
		}
	case <-time.After(waitLong):
		h.t.Error("pipeline did not stop")
	}
	if err := h.cat.Close(); err != nil {
		h.t.Errorf("close catalog: %v", err)
	}
}

// present returns the present location of vol:rel, ok false if none.
func (h *harness) present(vol, rel string) (storage.Location, bool) {
	l, err := h.cat.Location(vol, rel)
	if errors.Is(err, storage.ErrNotFound) {
		return l, false
	}
	if err != nil {
		h.t.Fatalf("location %s:%q: %v", vol, rel, err)
	}
	return l, l.State == storage.LocPresent
}

func (h *harness) waitPresent(vol, rel string) storage.Location {
	h.t.Helper()
	var l storage.Location
	testutil.WaitFor(h.t, waitLong, "cataloged "+vol+":"+rel, func() bool {
		var ok bool
		l, ok = h.present(vol, rel)
		return ok
	})
	return l
}

func (h *harness) waitGone(vol, rel string) {
	h.t.Helper()
	testutil.WaitFor(h.t, waitLong, "removed "+vol+":"+rel, func() bool {
		_, ok := h.present(vol, rel)
		return !ok
	})
}

// idle waits until nothing is settling or hashing, then one more settle.
func (h *harness) idle() {
	h.t.Helper()
	testutil.WaitFor(h.t, waitLong, "queues empty", func() bool {
		q := h.p.Status().Queues
		return q.Settling == 0 && q.Hashing == 0
	})
	time.Sleep(2 * h.p.settleFor())
	testutil.WaitFor(h.t, waitLong, "queues empty", func() bool {
		q := h.p.Status().Queues
		return q.Settling == 0 && q.Hashing == 0
	})
}

func (h *harness) events() []storage.Event {
	h.t.Helper()
	evs, err := h.cat.Events(0, 100000)
	if err != nil {
		h.t.Fatalf("events: %v", err)
	}
	return evs
}

func (h *harness) count(typ string) int {
	n := 0
	for _, e := range h.events() {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func (h *harness) volStatus(name string) VolumeStatus {
	for _, v := range h.p.Status().Volumes {
		if v.Name == name {
			return v
		}
	}
	h.t.Fatalf("no status for volume %s", name)
	return VolumeStatus{}
}

func (h *harness) rescan(name string) {
	h.p.mu.Lock()
	v := h.p.vols[name]
	h.p.mu.Unlock()
	v.requestRescan()
}

// mount mounts or skips (fails on CI) when mounting is not possible here;
// the mount is lazily detached when the test ends.
func mount(t *testing.T, dir string, args ...string) {
	t.Helper()
	out, err := exec.Command("mount", append(args, dir)...).CombinedOutput()
	if err != nil {
		testenv.SkipOrFail(t, "cannot mount here: %s", strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
}

func umount(t *testing.T, dir string) {
	t.Helper()
	testutil.Run(t, "umount", dir)
}

var errENOSPC = unix.ENOSPC
