package cardsvc

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
)

// GET /v1/cards looks for each verified copy; on a NAS whose mount hangs
// (a bindfs server stopped with SIGSTOP) the request still answers, the
// card is not safe and the destination says it cannot be checked, however
// many requests come; once the mount answers the card is safe again.
func TestCardsListHungMount(t *testing.T) {
	mnt, fuse := testutil.MountBindfs(t)
	if err := os.MkdirAll(filepath.Join(mnt, "2026-11-30", "A001", "ascmhl", "0001_A001"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The RAID answers all along: A001's copy there and B001 (only there)
	// are looked for whatever the share does.
	raid := t.TempDir()
	for _, c := range []string{"A001", "B001"} {
		if err := os.MkdirAll(filepath.Join(raid, "2026-11-30", c, "ascmhl", "0001_"+c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cat := catalogtest.Open(t, t.TempDir())
	if err := cat.PutCard(storage.Card{Key: "fp:a001", Label: "A001", SafeToFormat: true, Destinations: []storage.CardDest{
		{Volume: "nas", Path: "2026-11-30/A001", State: cards.DestVerified, Generation: "0001_A001"},
		{Volume: "raid", Path: "2026-11-30/A001", State: cards.DestVerified, Generation: "0001_A001"}}}); err != nil {
		t.Fatal(err)
	}
	if err := cat.PutCard(storage.Card{Key: "fp:b001", Label: "B001", SafeToFormat: true, Destinations: []storage.CardDest{
		{Volume: "raid", Path: "2026-11-30/B001", State: cards.DestVerified, Generation: "0001_B001"}}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ClipsHandler(cat, Volume{Name: "nas", Path: mnt}, Volume{Name: "raid", Path: raid}))
	defer srv.Close()
	client := &http.Client{Timeout: 10 * CopyCheckTimeout}
	list := func() (CardsDoc, error) {
		var d CardsDoc
		resp, err := client.Get(srv.URL + "/v1/cards")
		if err != nil {
			return d, err
		}
		defer resp.Body.Close()
		return d, json.NewDecoder(resp.Body).Decode(&d)
	}
	d, err := list()
	if err != nil || len(d.Cards) != 2 || !d.Cards[0].SafeToFormat || !d.Cards[1].SafeToFormat {
		t.Fatalf("answering mount: %+v %v", d, err)
	}

	if err := fuse.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Go(func() {
			d, err := list()
			switch {
			case err != nil:
				errs <- "request: " + err.Error()
			case len(d.Cards) != 2 || d.Cards[0].SafeToFormat:
				errs <- "a card on a hung mount listed safe"
			case !strings.Contains(d.Cards[0].Destinations[0].Error, "not responding"):
				errs <- "destination error " + d.Cards[0].Destinations[0].Error
			case d.Cards[0].Destinations[1].Error != "":
				errs <- "the answering RAID blamed: " + d.Cards[0].Destinations[1].Error
			case !d.Cards[1].SafeToFormat:
				errs <- "a card only on the answering RAID not listed safe: " + d.Cards[1].Destinations[0].Error
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}

	if err := fuse.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "the card safe again once the mount answers", func() bool {
		d, err := list()
		return err == nil && len(d.Cards) == 2 && d.Cards[0].SafeToFormat
	})
}
