package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/ingest"
	"github.com/ingestd/ingestd/storage"
)

// The real binary: a file rewritten or deleted after it was read, while
// it waits to be recorded (held by the test-only catalog gate of
// ingest.HashGateEnv), ends as on disk with location.changed or
// location.removed ("deleted or moved away": the watcher's, not a
// rescan's "missing at rescan"), before the first rescan (30s).
func TestSettleBusyFileChangedBeforeRecorded(t *testing.T) {
	const rel, first = "a/clip.mov", "read, then changed before it is recorded"
	asset1 := ingest.HashBytes([]byte(first)).BLAKE3
	for _, tc := range []struct {
		name  string
		act   func(t *testing.T, e *env)
		typ   string
		asset string // of the event
		at    string // detail prefix
	}{{
		name:  "rewritten",
		act:   func(t *testing.T, e *env) { e.writeFile(rel, []byte("the new content")) },
		typ:   storage.EvLocationChanged,
		asset: ingest.HashBytes([]byte("the new content")).BLAKE3,
		at:    "content replaced " + asset1,
	}, {
		name: "deleted",
		act: func(t *testing.T, e *env) {
			if err := os.Remove(filepath.Join(e.watch, rel)); err != nil {
				t.Fatal(err)
			}
		},
		typ:   storage.EvLocationRemoved,
		asset: asset1,
		at:    "deleted or moved away",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "", "")
			gate := filepath.Join(e.dir, "gate")
			marker := func(rel, what string) string {
				return filepath.Join(gate, "footage%"+strings.ReplaceAll(rel, "/", "%")+"."+what)
			}
			for _, p := range []string{filepath.Join(gate, "hold-catalog"), marker("b/sentinel.mov", "record")} {
				if err := os.MkdirAll(gate, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			e.extraEnv = append(e.extraEnv, ingest.HashGateEnv+"="+gate)
			t0 := time.Now()
			e.start()
			e.writeFile(rel, []byte(first))
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				if _, err := os.Stat(marker(rel, "hashed")); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s never reached the catalog stage", rel)
				}
			}
			tc.act(t, e)
			// The watcher hands events over in order: once the sentinel
			// written after the change is cataloged (by the other
			// cataloger), the change was seen while rel was held.
			e.writeFile("b/sentinel.mov", []byte("sentinel"))
			e.waitFeed(30*time.Second, "b/sentinel.mov cataloged", hasPaths(storage.EvLocationAdded, "b/sentinel.mov"))
			if err := os.WriteFile(marker(rel, "record"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			e.waitFeed(time.Until(t0.Add(28*time.Second)), tc.typ+" for "+rel+" before the first rescan", func(evs []storage.Event) bool {
				for _, ev := range evs {
					if ev.Type == tc.typ && ev.Path == rel && ev.AssetID == tc.asset && strings.HasPrefix(ev.Detail, tc.at) {
						return true
					}
				}
				return false
			})
			if got := countPaths(e.feedAll(), storage.EvLocationAdded)[rel]; got != 1 {
				t.Errorf("%d location.added for %s, want 1 (the first content)", got, rel)
			}
		})
	}
}
