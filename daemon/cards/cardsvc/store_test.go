package cardsvc

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
)

// A card verified at every destination while the state dir is full (the
// catalog refuses commits): it is not announced safe, its status says why,
// and once space is back it is recorded and announced by itself (a trial
// saw it stay "finishing SAFE TO FORMAT checks" for good, until the card
// was read again whole). Real catalog on a real, filled tmpfs.
func TestMarkSafeWaitsForTheCatalog(t *testing.T) {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	testutil.Run(t, "mount", "-t", "tmpfs", "-o", "size=128m", "tmpfs", dir)
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	cat := catalogtest.Open(t, filepath.Join(dir, "catalog"))
	rec := reportRecord("FULL1", "uuid:1234-ABCD/ff09")
	rec.Status, rec.SafeToFormat, rec.SafeAt = StateOffloaded, false, nil
	rec.Destinations[1].State, rec.Destinations[1].Error, rec.Destinations[1].Generation = cards.DestVerified, "", "0001_x.mhl"
	if err := cat.PutCard(rec); err != nil {
		t.Fatal(err)
	}

	// Fill the state dir's filesystem below the catalog's reserve.
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, int(st.Bavail*uint64(st.Bsize))-8<<20)); err != nil {
		t.Fatal(err)
	}
	f.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &Service{cat: cat, log: slogDiscard(), present: map[string]*present{}, cascading: map[string]*CardStatus{},
		runCtx: ctx, storeEvery: 50 * time.Millisecond}
	s.present["/media/FULL1"] = &present{st: CardStatus{Mount: "/media/FULL1", Key: rec.Key, State: StateOffloaded}}
	done := make(chan struct{})
	go func() { defer close(done); s.markSafe(&rec, s.log) }()

	shown := func() CardStatus { return s.Status().Cards[0] }
	deadline := time.Now().Add(10 * time.Second)
	for m := shown().Message; !strings.Contains(m, "the offload cannot be recorded (") || !strings.Contains(m, "catalog: filesystem nearly full"); m = shown().Message {
		if time.Now().After(deadline) {
			t.Fatalf("status while the catalog refuses: %+v", shown())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // several refused tries
	if c := shown(); c.SafeToFormat || !strings.Contains(c.Message, "NOT SAFE TO FORMAT yet") {
		t.Fatalf("shown while not recorded: %+v", c)
	}
	if n := catalogtest.CountEvents(t, cat, storage.EvCardSafe, ""); n != 0 {
		t.Fatalf("%d card.safe events while not recorded", n)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("markSafe still waiting after space came back")
	}
	got, err := cat.Card(rec.Key)
	if err != nil || !got.SafeToFormat || got.SafeAt == nil {
		t.Fatalf("record once space came back: %+v %v", got, err)
	}
	if n := catalogtest.CountEvents(t, cat, storage.EvCardSafe, ""); n != 1 {
		t.Fatalf("%d card.safe events, want 1", n)
	}
	if c := shown(); !c.SafeToFormat || !strings.HasPrefix(c.Message, "offloaded: safe to eject, SAFE TO FORMAT") {
		t.Fatalf("status once recorded: %+v", c)
	}
}
