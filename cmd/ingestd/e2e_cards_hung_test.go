package main_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
)

// TestCardsDestHungMount: a destination volume whose mount hangs (a NAS
// share whose server stopped answering: a bindfs FUSE mount with its
// server SIGSTOPped) does not hold the card: it is read into the other
// destination, the hung one is failed "not responding" and the card is NOT
// safe; once the mount answers again it is filled from the verified copy
// and the card becomes safe.
func TestCardsDestHungMount(t *testing.T) {
	cardsNeedRoot(t)
	root := filepath.Join(t.TempDir(), "media")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	nas, fuse := testutil.MountBindfs(t)
	e := newEnv(t, "", "  - name: nas\n    path: "+nas+"\n"+
		"cards:\n  mount_roots: ["+root+"]\n  poll: 200ms\n  retry_interval: 1s\n"+
		"  destinations:\n    - volume: footage\n      path: \"{label}\"\n    - volume: nas\n      path: \"{label}\"\n")
	c := newCard(t, root, "HUNG1", "32M", map[string]string{
		"DCIM/100GOPRO/GX010001.MP4": "1200000", "DCIM/100GOPRO/GX010002.MP4": "900000",
	})
	e.start()
	defer e.stop()
	testutil.WaitFor(t, 30*time.Second, "nas adopted", func() bool {
		_, err := os.Stat(filepath.Join(nas, ".ingestd-volume"))
		return err == nil
	})
	if err := fuse.Signal(syscall.SIGSTOP); err != nil { // the share hangs
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			fuse.Signal(syscall.SIGCONT)
		}
	}()
	c.Insert()
	e.waitFeed(90*time.Second, "HUNG1 offloaded with the nas hung", func(evs []storage.Event) bool {
		return len(mdEvents(evs, storage.EvCardOffloaded, "HUNG1")) > 0
	})
	rec := mdCardRecord(t, e, "HUNG1")
	if rec.SafeToFormat || len(rec.Destinations) != 2 || rec.Destinations[0].State != "verified" ||
		rec.Destinations[1].State == "verified" || !strings.Contains(rec.Destinations[1].Error, "volume nas offline: not responding") {
		t.Fatalf("record with the nas hung: %+v", rec)
	}
	if s := mdEvents(e.feedAll(), storage.EvCardSafe, "HUNG1"); len(s) > 0 {
		t.Fatalf("card.safe while the nas hangs: %+v", s)
	}
	fuse.Signal(syscall.SIGCONT)
	stopped = false
	e.waitFeed(90*time.Second, "HUNG1 safe once the nas answers", func(evs []storage.Event) bool {
		return len(mdEvents(evs, storage.EvCardSafe, "HUNG1")) > 0
	})
	rec = mdCardRecord(t, e, "HUNG1")
	if !rec.SafeToFormat || rec.Destinations[1].State != "verified" {
		t.Fatalf("record once the nas answers: %+v", rec)
	}
	dir := filepath.Join(nas, filepath.FromSlash(rec.Destinations[1].Path))
	if r, err := ascmhl.Verify(context.Background(), dir); err != nil || !r.OK() || len(r.Verified) != 2 {
		t.Errorf("ascmhl verify of the nas copy %s: %v %s", dir, err, r)
	}
}
