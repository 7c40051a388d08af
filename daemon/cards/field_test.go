package cards

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testenv"
	cardgen "github.com/ingestd/ingestd/testdata/cards"
)

// TestFieldCards: card trees of cameras and recorders beyond the
// skeletons (ARRI ProRes and HDE, Canon CRM, a RED magazine with spans,
// Sony spanned clips, DJI, Atomos, an audio recorder with NFC and NFD
// names) are detected, grouped into clips, offloaded, and pass the
// reference's verify and diff.
func TestFieldCards(t *testing.T) {
	run := testenv.ASCMHL(t)
	for _, fc := range cardgen.FieldCards() {
		t.Run(fc.Name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "card")
			tree := cardgen.Merge(fc.Tree, cardgen.Extras(false))
			if err := tree.Write(src, time.Date(2026, 2, 1, 10, 15, 0, 0, time.UTC)); err != nil {
				t.Fatal(err)
			}
			l, err := Detect(src)
			if err != nil || string(l) != fc.Layout {
				t.Errorf("detected %q (%v), want %q", l, err, fc.Layout)
			}
			clips, err := Clips(src, l)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, c := range clips {
				names = append(names, c.Name)
			}
			if len(clips) != fc.Clips {
				t.Errorf("%d clips %q, want %d", len(clips), names, fc.Clips)
			}
			dst := filepath.Join(t.TempDir(), "A001")
			res, err := Offload(context.Background(), src, dst, Options{})
			if err != nil {
				t.Fatalf("offload: %v (%s %s)", err, res.FailedPath, res.Reason)
			}
			refMHL(t, run, "ascmhl-debug", "verify", dst)
			refMHL(t, run, "ascmhl", "diff", dst)
		})
	}
}
