package ingest

import (
	"errors"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
)

// TestRescanBeforeStart: a rescan of a configured volume whose watcher has
// not started yet is "starting" (retry), not "no such volume"; a name that
// is not configured is ErrNoVolume; once running, a rescan is accepted.
func TestRescanBeforeStart(t *testing.T) {
	cat := catalogtest.Open(t, t.TempDir())
	p, err := New(Config{Volumes: []Volume{{"footage", t.TempDir()}}, Settle: testSettle, Rescan: time.Hour, HashWorkers: 1}, cat, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		want error
	}{{"footage", ErrVolumeStarting}, {"nope", ErrNoVolume}} {
		if err := p.Rescan(tc.name); !errors.Is(err, tc.want) {
			t.Errorf("Rescan(%q) before Run: %v, want %v", tc.name, err, tc.want)
		}
	}
	h := start(t, "", Config{Volumes: []Volume{{"footage", t.TempDir()}}})
	if err := h.p.Rescan("footage"); err != nil {
		t.Errorf("Rescan of a running volume: %v", err)
	}
	if err := h.p.Rescan("nope"); !errors.Is(err, ErrNoVolume) {
		t.Errorf("Rescan(nope) running: %v, want ErrNoVolume", err)
	}
}
