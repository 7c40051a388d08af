package main_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ingestd/ingestd/storage"
)

// perf15WriteTree writes n small files of distinct content under
// watch/<dir>/, 100 per folder, and returns their paths relative to the
// watch folder.
func perf15WriteTree(t *testing.T, e *env, dir string, n int) []string {
	t.Helper()
	rels := make([]string, 0, n)
	for i := range n {
		rel := fmt.Sprintf("%s/d%03d/file%05d.dat", dir, i/100, i) // not media: no ffprobe run behind the ingest
		if i%100 == 0 {
			if err := os.MkdirAll(filepath.Join(e.watch, filepath.Dir(rel)), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(e.watch, rel), []byte("content of "+rel), 0o644); err != nil {
			t.Fatal(err)
		}
		rels = append(rels, rel)
	}
	return rels
}

// TestPerf15SeqContiguousAcrossKill9 (issue 15 item 4): the daemon is
// killed with SIGKILL twice in the middle of a first ingest of thousands
// of files (the catalog commits them in batches), restarted each time,
// and then finishes. The feed read through the API must be exactly seq
// 1..N with no hole (a hub detects a lost event by a missing number), the
// status's last_seq must be N, every file must be added exactly once and
// every content cataloged exactly once (no acknowledged file lost, none
// repeated).
func TestPerf15SeqContiguousAcrossKill9(t *testing.T) {
	e := newEnv(t, "", "")
	// Each kill gets a fresh tree of its own, written just before it, so
	// the kill lands while batches are being committed however fast the
	// daemon (a restart hashes walked, settled files at once).
	const n = 6000
	var all []string
	lastSeq := func() uint64 {
		st, err := e.client().Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return st.Catalog.LastSeq
	}
	for kill := range 2 {
		dir := fmt.Sprintf("kill%d", kill+1)
		if kill == 0 {
			all = append(all, perf15WriteTree(t, e, dir, n)...) // found by the first walk
			e.start()
		} else {
			all = append(all, perf15WriteTree(t, e, dir, n)...)
		}
		// Kill as soon as the daemon commits more (a cheap status read,
		// not the whole feed): its batches are being written.
		seq := lastSeq()
		deadline := time.Now().Add(60 * time.Second)
		for lastSeq() <= seq {
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: no progress in 60s", kill+1)
			}
			time.Sleep(20 * time.Millisecond)
		}
		e.kill9()
		e.start()
	}
	late := perf15WriteTree(t, e, "late", 200)
	all = append(all, late...)
	e.waitFeed(180*time.Second, "every file after two kills", hasPaths(storage.EvLocationAdded, all...))

	// Let the daemon go idle (the probes of what it cataloged may still add
	// events), then read the feed and the status until they agree.
	var evs []storage.Event
	var final uint64
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
		st, err := e.client().Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		final = st.Catalog.LastSeq
		evs = e.feedAll()
		if uint64(len(evs)) == final || time.Now().After(deadline) {
			break
		}
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("feed position %d has seq %d: seq is not 1..%d without holes\n%s", i+1, ev.Seq, len(evs), dumpEvents(evs[max(0, i-3):min(len(evs), i+3)]))
		}
	}
	if final != uint64(len(evs)) {
		t.Fatalf("status last_seq %d, the feed has %d events (still differing after 2 minutes)", final, len(evs))
	}
	added := countPaths(evs, storage.EvLocationAdded)
	for _, p := range all {
		if added[p] != 1 {
			t.Errorf("%s: %d location.added, want exactly 1", p, added[p])
		}
	}
	if len(added) != len(all) {
		t.Errorf("location.added for %d paths, want %d", len(added), len(all))
	}
	cataloged := map[string]int{}
	for _, ev := range evs {
		if ev.Type == storage.EvAssetCataloged {
			cataloged[ev.AssetID]++
		}
	}
	for id, c := range cataloged {
		if c != 1 {
			t.Errorf("asset %s cataloged %d times", id, c)
		}
	}
	if len(cataloged) != len(all) {
		t.Errorf("%d assets cataloged, want %d (distinct contents)", len(cataloged), len(all))
	}
	t.Logf("%d events, seq 1..%d, %d files", len(evs), len(evs), len(all))
}
