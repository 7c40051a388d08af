package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/storage"
)

// TestAssetEventsRoute (issue 13: the console's asset page): the real
// daemon serves GET /v1/assets/{id}/events, the events of one asset paged
// with a seq cursor, oldest first (after=) and newest first (order=desc,
// before=). For every asset they must be exactly the feed's events that
// name it, in seq order, whatever the page size, including events written
// after a restart (the per-asset index is written with each event and
// survives it); bad parameters and unknown ids are answered as documented.
func TestAssetEventsRoute(t *testing.T) {
	e := newEnv(t, "tok", "")
	// Interleaved events of several assets, and events that name none.
	for i := range 6 {
		e.writeFile(fmt.Sprintf("d/f%d.txt", i), []byte(fmt.Sprint("content ", i%3)))
	}
	e.start()
	e.waitFeed(30*time.Second, "six files added", func(evs []storage.Event) bool {
		return len(countPaths(evs, storage.EvLocationAdded)) == 6
	})
	// One path gets other content, one is removed; then a restart.
	e.writeFile("d/f1.txt", []byte("content 2"))
	if err := os.Remove(filepath.Join(e.watch, "d", "f4.txt")); err != nil {
		t.Fatal(err)
	}
	e.waitFeed(30*time.Second, "change and removal", func(evs []storage.Event) bool {
		return countPaths(evs, storage.EvLocationChanged)["d/f1.txt"] == 1 && countPaths(evs, storage.EvLocationRemoved)["d/f4.txt"] == 1
	})
	e.stop()
	e.writeFile("d/f6.txt", []byte("content 0"))
	e.start()
	e.waitFeed(30*time.Second, "a file added after the restart", hasPaths(storage.EvLocationAdded, "d/f6.txt"))

	byAsset := map[string][]storage.Event{}
	for _, ev := range e.feedAll() {
		if ev.AssetID != "" {
			byAsset[ev.AssetID] = append(byAsset[ev.AssetID], ev)
		}
	}
	if len(byAsset) != 3 {
		t.Fatalf("%d assets in the feed, want 3:\n%s", len(byAsset), dumpEvents(e.feedAll()))
	}
	for id, want := range byAsset {
		if len(want) < 3 {
			t.Fatalf("asset %s has only %d events: the fixture should give each several", id, len(want))
		}
		for _, limit := range []int{1, 2, 1000} {
			got := pageAssetEventsAPI(t, e, id, limit, false)
			if !reflect.DeepEqual(seqsOf(got), seqsOf(want)) || !sameEvents(got, want) {
				t.Fatalf("asset %s, limit %d, oldest first: seqs %v, want %v", id, limit, seqsOf(got), seqsOf(want))
			}
			got = pageAssetEventsAPI(t, e, id, limit, true)
			rev := make([]storage.Event, 0, len(want))
			for i := len(want) - 1; i >= 0; i-- {
				rev = append(rev, want[i])
			}
			if !sameEvents(got, rev) {
				t.Fatalf("asset %s, limit %d, newest first: seqs %v, want %v", id, limit, seqsOf(got), seqsOf(rev))
			}
		}
	}
	var anyAsset string
	for id := range byAsset {
		anyAsset = id
		break
	}
	for _, tc := range []struct {
		path  string
		code  int
		param string
	}{
		{"/v1/assets/" + strings.Repeat("0", 64) + "/events", 404, "id"},
		{"/v1/assets/NOTHEX/events", 400, "id"},
		{"/v1/assets/" + anyAsset + "/events?after=x", 400, "after"},
		{"/v1/assets/" + anyAsset + "/events?order=sideways", 400, "order"},
		{"/v1/assets/" + anyAsset + "/events?before=3", 400, "before"},
		{"/v1/assets/" + anyAsset + "/events?order=desc&after=3", 400, "after"},
		{"/v1/assets/" + anyAsset + "/events?limit=0", 400, "limit"},
	} {
		code, body := e.get(tc.path, "tok")
		var doc struct {
			Param string `json:"param"`
		}
		_ = json.Unmarshal(body, &doc)
		if code != tc.code || doc.Param != tc.param {
			t.Errorf("GET %s: %d %s, want %d with param %q", tc.path, code, body, tc.code, tc.param)
		}
	}
	if code, _ := e.get("/v1/assets/"+anyAsset+"/events", ""); code != 401 {
		t.Errorf("without a token: %d, want 401", code)
	}
}

// pageAssetEventsAPI pages GET /v1/assets/{id}/events to its end.
func pageAssetEventsAPI(t *testing.T, e *env, id string, limit int, desc bool) []storage.Event {
	t.Helper()
	var all []storage.Event
	var cursor uint64
	for pages := 0; pages < 1000; pages++ {
		path := fmt.Sprintf("/v1/assets/%s/events?limit=%d", id, limit)
		switch {
		case desc && cursor > 0:
			path += fmt.Sprintf("&order=desc&before=%d", cursor)
		case desc:
			path += "&order=desc"
		default:
			path += fmt.Sprintf("&after=%d", cursor)
		}
		code, body := e.get(path, "tok")
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		var doc struct {
			Events []storage.Event `json:"events"`
			Next   *uint64         `json:"next"`
		}
		if err := json.Unmarshal(body, &doc); err != nil || doc.Events == nil || doc.Next == nil {
			t.Fatalf("GET %s: %s (%v): want events[] and next", path, body, err)
		}
		if len(doc.Events) > limit {
			t.Fatalf("GET %s: %d events", path, len(doc.Events))
		}
		if len(doc.Events) == 0 {
			if *doc.Next != cursor {
				t.Fatalf("GET %s: empty page with next %d, want the cursor %d", path, *doc.Next, cursor)
			}
			return all
		}
		if *doc.Next != doc.Events[len(doc.Events)-1].Seq {
			t.Fatalf("GET %s: next %d, want the last seq %d", path, *doc.Next, doc.Events[len(doc.Events)-1].Seq)
		}
		all = append(all, doc.Events...)
		cursor = *doc.Next
	}
	t.Fatal("paging does not end")
	return nil
}

func seqsOf(evs []storage.Event) []uint64 {
	out := []uint64{}
	for _, ev := range evs {
		out = append(out, ev.Seq)
	}
	return out
}

// sameEvents compares events as served (times as JSON round-trips them).
func sameEvents(a, b []storage.Event) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
