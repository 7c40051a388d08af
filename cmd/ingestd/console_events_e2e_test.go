package main_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/storage"
)

// TestConsoleE2EAssetEventsFromTheIndex (issue 13): the asset page lists
// the asset's own events from the catalog's per-asset index (GET
// /v1/assets/{id}/events), however far back in the feed: an asset
// cataloged more than 2000 events ago (1100 files cataloged after it)
// still shows its asset.cataloged and location.added, newest first, and
// only its own events; a new location of it arrives live on top.
func TestConsoleE2EAssetEventsFromTheIndex(t *testing.T) {
	consoleChromium(t)
	e := newEnv(t, "", "proxy:\n  enabled: false\n")
	e.start()
	defer e.stop()
	e.writeFile("first/notes.txt", []byte("the asset under test\n"))
	// Cataloged and probed (asset.updated "probed: other"): under load the
	// probe's event came after the events below were counted.
	evs := e.waitFeed(time.Minute, "notes.txt cataloged and probed", func(evs []storage.Event) bool {
		id := consoleFeedAsset(evs, storage.EvAssetCataloged, "notes.txt")
		for _, ev := range evs {
			if id != "" && ev.AssetID == id && ev.Type == storage.EvAssetUpdated {
				return true
			}
		}
		return false
	})
	id := consoleFeedAsset(evs, storage.EvAssetCataloged, "notes.txt")
	var first uint64
	for _, ev := range evs {
		if ev.AssetID == id && first == 0 {
			first = ev.Seq
		}
	}
	const n = 1100
	for i := range n {
		e.writeFile(fmt.Sprintf("bulk/%04d.txt", i), []byte(fmt.Sprintf("file %d\n", i)))
	}
	evs = e.waitFeed(3*time.Minute, "the bulk files cataloged", func(evs []storage.Event) bool {
		c := 0
		for _, ev := range evs {
			if ev.Type == storage.EvAssetCataloged && strings.HasPrefix(ev.Path, "bulk/") {
				c++
			}
		}
		return c == n
	})
	last := evs[len(evs)-1].Seq
	if last-first <= 2000 {
		t.Fatalf("precondition: the asset's first event (seq %d) is within the last 2000 (last seq %d)", first, last)
	}
	var own []string
	for _, ev := range evs {
		if ev.AssetID == id {
			own = append(own, ev.Type)
		}
	}
	b := newConsoleBrowser(t, "http://"+e.addr, 1280, 720)
	b.open("#/asset/" + id)
	b.waitJS("the asset's events from the index", fmt.Sprintf(`document.querySelectorAll('.events tbody tr').length === %d`, len(own)), 20*time.Second)
	got := consoleEval[[]string](b, `[...document.querySelectorAll('.events tbody tr')].map(r => r.dataset.type)`)
	seqs := consoleEval[[]int](b, `[...document.querySelectorAll('.events tbody tr')].map(r => Number(r.cells[0].innerText))`)
	for i := range seqs {
		if i > 0 && seqs[i] >= seqs[i-1] {
			t.Errorf("events not newest first: %v", seqs)
			break
		}
	}
	if len(got) != len(own) || got[len(got)-1] != own[0] || int(first) != seqs[len(seqs)-1] {
		t.Errorf("asset page events %v (seqs %v), want the feed's %v of it, oldest (seq %d) last", got, seqs, own, first)
	}
	b.shot("asset-events-old")
	// Live: a copy of the file elsewhere is a new location of the same
	// asset; the page shows its location.added on top without a reload.
	e.writeFile("second/copy.txt", []byte("the asset under test\n"))
	b.waitJS("a live event on top", fmt.Sprintf(`Number(document.querySelector('.events tbody tr').cells[0].innerText) > %d`, seqs[0]), 30*time.Second)
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("the page reported errors: %v", errs)
	}
}
