package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/ingestd/ingestd/daemon/api/wire"
)

// TestCardViewJSON: `ingestd cards --json` carries the live mount,
// live_state and message next to the record (docs/api.md), and a non-UTF-8
// folder still comes with its folder_b64.
func TestCardViewJSON(t *testing.T) {
	for _, tc := range []struct {
		name    string
		view    CardView
		want    []string
		wantNot []string
	}{
		{
			name:    "record only",
			view:    CardView{Card: wire.Card{Key: "k1", Label: "A001", Status: "offloaded"}},
			want:    []string{`"key":"k1"`, `"label":"A001"`, `"status":"offloaded"`},
			wantNot: []string{`"mount"`, `"live_state"`, `"message"`},
		},
		{
			name: "record and live status",
			view: CardView{Card: wire.Card{Key: "k2", Status: "copying"}, Mount: "/media/card", Live: "copying", Message: "copying clip 3 of 9"},
			want: []string{`"key":"k2"`, `"mount":"/media/card"`, `"live_state":"copying"`, `"message":"copying clip 3 of 9"`},
		},
		{
			name: "non-UTF-8 folder and live status",
			view: CardView{Card: wire.Card{Key: "k3", Folder: "/dest/A\xff"}, Live: "verifying"},
			want: []string{`"folder_b64":`, `"live_state":"verifying"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.view)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("not a JSON object: %v: %s", err, b)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s lacks %s", b, w)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(string(b), w) {
					t.Errorf("%s has %s", b, w)
				}
			}
			var back wire.Card
			if err := json.Unmarshal(b, &back); err != nil || back.Key != tc.view.Key || back.Folder != tc.view.Folder {
				t.Errorf("record does not round-trip: %v %+v", err, back)
			}
		})
	}
}

// TestCardsViewLiveCounts: while a card's first pass runs, its record
// knows no file count yet; the view takes the pass's.
func TestCardsViewLiveCounts(t *testing.T) {
	doc := wire.CardsPage{Cards: []wire.Card{{Key: "k1", Label: "A001", Status: "copying"}, {Key: "k2", Label: "B001", Status: "offloaded", Files: 3, Bytes: 30}}}
	live := wire.CardsStatus{Cards: []wire.CardStatus{{Key: "k1", State: "copying", FilesTotal: 17, BytesTotal: 200 << 20}, {Key: "k2", FilesTotal: 99, BytesTotal: 99}}}
	v := cardsView(doc, live)
	if v.Cards[0].Files != 17 || v.Cards[0].Bytes != 200<<20 {
		t.Errorf("copying card: %d files, %d bytes", v.Cards[0].Files, v.Cards[0].Bytes)
	}
	if v.Cards[1].Files != 3 || v.Cards[1].Bytes != 30 {
		t.Errorf("recorded card: %d files, %d bytes", v.Cards[1].Files, v.Cards[1].Bytes)
	}
}

// TestPrintCardDestinations: `ingestd status` gives each destination of a
// card its own line (its state, the error when it failed), and those being
// written a progress item each with bytes, rate and ETA.
func TestPrintCardDestinations(t *testing.T) {
	st := wire.CardsStatus{Cards: []wire.CardStatus{{Mount: "/media/A001", Label: "A001", Key: "k1", State: "copying",
		FilesTotal: 4, BytesTotal: 600 << 20, Destinations: []wire.DestState{
			{Volume: "raid", Path: "2026-12-01/A001", State: "copying", BytesDone: 259 << 20, BytesVerified: 143 << 20, BytesTotal: 600 << 20, RateBps: 48 << 20, ETASeconds: 9},
			{Volume: "shuttle", Path: "2026-12-01/A001", State: "failed", FailedPath: "CLIP/C0002.MP4", Error: "destination full"},
		}}}}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	printCards(tw, st)
	tw.Flush()
	out := buf.String()
	for _, want := range []string{"dest raid -> 2026-12-01/A001", "copying", "dest shuttle -> 2026-12-01/A001", "failed", "CLIP/C0002.MP4: destination full"} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	items := statusProgress(wire.Status{Cards: &st})
	if len(items) != 1 || items[0].name != "A001 -> raid" || !strings.Contains(items[0].detail, "48.0 MiB/s") || !strings.Contains(items[0].detail, "ETA 9s") {
		t.Errorf("progress items: %+v", items)
	}
}

// Two records of one label (the card changed between two insertions) are
// told apart in `ingestd cards` by the card's id and whole UUID; the key
// was cut to 12 characters ("uuid:FB9F-FA"), which read as a whole UUID
// and was the same for both.
func TestPrintCardsTellsRecordsApart(t *testing.T) {
	v := CardsView{Cards: []CardView{
		{Card: wire.Card{ID: "0123456789abcdef0123456789abcdef", Key: "uuid:FB9F-FA12/aaaa", Label: "WCARD", Status: "failed",
			Identity: wire.CardIdentity{UUID: "FB9F-FA12"}}},
		{Card: wire.Card{ID: "fedcba9876543210fedcba9876543210", Key: "uuid:FB9F-FA12/bbbb", Label: "WCARD", Status: "offloaded", SafeToFormat: true,
			Identity: wire.CardIdentity{UUID: "FB9F-FA12"}}},
		{Card: wire.Card{Key: "fp:cccc", Label: "NO NAME", Status: "offloaded"}},
	}}
	var buf bytes.Buffer
	printCardsView(&buf, v, false, 80)
	out := buf.String()
	for _, want := range []string{
		"card WCARD\tid 0123456789abcdef0123456789abcdef uuid FB9F-FA12\tfailed\tNOT SAFE TO FORMAT",
		"card WCARD\tid fedcba9876543210fedcba9876543210 uuid FB9F-FA12\toffloaded\tSAFE TO FORMAT",
		"card NO NAME\tkey fp:cccc\toffloaded",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
}

// A destination that failed after writing everything is not shown at
// 100% (it counts what was verified there), and one never written (its
// volume offline) is not "0 B/0 B" (a trial read both as done or empty).
func TestPrintCardsDestinationFractions(t *testing.T) {
	v := CardsView{Cards: []CardView{{Card: wire.Card{ID: "0123456789abcdef0123456789abcdef", Key: "k", Label: "A001", Status: "partial",
		Destinations: []wire.DestState{
			{Volume: "raid", Path: "A001", State: "verified", BytesDone: 200 << 20, BytesVerified: 200 << 20, BytesTotal: 200 << 20},
			{Volume: "shuttle", Path: "A001", State: "failed", BytesDone: 200 << 20, BytesVerified: 50 << 20, BytesTotal: 200 << 20, Error: "destination differs from card"},
			{Volume: "nas", Path: "A001", State: "failed", Error: "volume offline"},
		}}}}}
	var buf bytes.Buffer
	printCardsView(&buf, v, false, 80)
	out := buf.String()
	for _, want := range []string{
		"dest\traid/A001\tverified\t100%\t200.0 MiB",
		"dest\tshuttle/A001\tfailed\t25%\t50.0 MiB/200.0 MiB verified  error: destination differs from card",
		"dest\tnas/A001\tfailed\t-\t-  error: volume offline",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
}

// A failed record whose card was offloaded again since (superseded) is
// shown as such, with its reason and without its old destination errors;
// another failed record shows its reason (a trial saw the superseded one
// listed as an open failure with its stale errors).
func TestPrintCardsSuperseded(t *testing.T) {
	reason := wire.CardSuperseded + "WCARD (id fedcba9876543210fedcba9876543210, raid/WCARD-2); it had failed: read X: written to while read"
	v := CardsView{Cards: []CardView{
		{Card: wire.Card{ID: "0123456789abcdef0123456789abcdef", Key: "uuid:FB9F-FA12/aaaa", Label: "WCARD", Status: "failed", Reason: reason,
			Destinations: []wire.DestState{{Volume: "raid", Path: "WCARD", State: "failed", Error: "written to while read"}}}},
		{Card: wire.Card{ID: "1123456789abcdef0123456789abcdef", Key: "uuid:1/b", Label: "B001", Status: "failed", Reason: "no destination can be written: raid: offline",
			Destinations: []wire.DestState{{Volume: "raid", Path: "B001", State: "failed", Error: "offline"}}}},
	}}
	var buf bytes.Buffer
	printCardsView(&buf, v, false, 80)
	out := buf.String()
	for _, want := range []string{
		"card WCARD\tid 0123456789abcdef0123456789abcdef\tsuperseded\tNOT SAFE TO FORMAT",
		"  " + reason + "\n",
		"card B001\tid 1123456789abcdef0123456789abcdef\tfailed\tNOT SAFE TO FORMAT",
		"dest\traid/B001\tfailed",
		"  no destination can be written: raid: offline\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "dest\traid/WCARD") {
		t.Errorf("superseded record's destinations listed:\n%s", out)
	}
}
