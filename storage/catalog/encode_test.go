package catalog

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/ingestd/ingestd/storage"
)

// The hand encoder and encoding/json give the same bytes for every record,
// and the hand encoder takes the flat records it is for (so the check
// compares something).
func TestMarshalMatchesEncodingJSON(t *testing.T) {
	now := time.Date(2026, 11, 30, 3, 4, 5, 123456789, time.UTC)
	paris := time.FixedZone("CET", 3600)
	odd := time.FixedZone("LMT", 561) // an offset with seconds
	loc := storage.Location{Volume: "footage", Path: "day 1/A001.mov", AssetID: "ab12", Size: 42,
		MTime: now, Inode: 7, Dev: 9, State: storage.LocPresent, Seen: now}
	ev := storage.Event{Seq: 17, Type: storage.EvLocationAdded, AssetID: "ab12", Volume: "footage", Path: "day 1/A001.mov", Time: now}
	asset := storage.Asset{ID: "ab12", Size: 42, Hashes: storage.Hashes{BLAKE3: "ab12", XXH128: "cd34"}, FirstSeen: now}
	withLoc := func(f func(*storage.Location)) storage.Location { l := loc; f(&l); return l }
	withEv := func(f func(*storage.Event)) storage.Event { e := ev; f(&e); return e }
	tests := []struct {
		name string
		v    any
		fast bool // the hand encoder takes it
	}{
		{"location", loc, true},
		{"location removed replaced", withLoc(func(l *storage.Location) {
			l.State, l.Removed, l.ReplacedBy = storage.LocRemoved, now.Add(time.Second), "ef56"
		}), true},
		{"location unicode path", withLoc(func(l *storage.Location) { l.Path = "été/クリップ 1.mov" }), true},
		{"location zero times", withLoc(func(l *storage.Location) { l.MTime, l.Seen = time.Time{}, time.Time{} }), true},
		{"location local time", withLoc(func(l *storage.Location) { l.MTime = now.In(paris) }), true},
		{"location offset with seconds", withLoc(func(l *storage.Location) { l.MTime = now.In(odd) }), false},
		{"location html chars", withLoc(func(l *storage.Location) { l.Path = "a<b>&c.mov" }), false},
		{"location quote backslash", withLoc(func(l *storage.Location) { l.Path = `a"b\c.mov` }), false},
		{"location control char", withLoc(func(l *storage.Location) { l.Path = "a\nb\x01.mov" }), false},
		{"location line separator", withLoc(func(l *storage.Location) { l.Path = "a\u2028b.mov" }), false},
		{"location not utf-8 (path_b64)", withLoc(func(l *storage.Location) { l.Path = "caf\xe9.mov" }), false},
		{"location with history", withLoc(func(l *storage.Location) {
			l.History = []storage.Version{{AssetID: "0f", Size: 1, MTime: now, Replaced: now}}
		}), false},
		{"location year 10000", withLoc(func(l *storage.Location) { l.MTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }), false},
		{"event", ev, true},
		{"event bare", storage.Event{Seq: 1, Type: storage.EvApplianceStarted, Time: now}, true},
		{"event detail", withEv(func(e *storage.Event) { e.Detail = "content replaced ab12" }), true},
		{"event detail escapes", withEv(func(e *storage.Event) { e.Detail = "mount root <missing> \"x\"" }), false},
		{"event not utf-8 (path_b64)", withEv(func(e *storage.Event) { e.Path = "\xff\xfe" }), false},
		{"event zero time", withEv(func(e *storage.Event) { e.Time = time.Time{} }), true},
		{"asset", asset, true},
		{"asset probed", func() storage.Asset { a := asset; a.Kind = "video"; return a }(), false},
		{"asset proxy", func() storage.Asset { a := asset; a.Proxy = &storage.ProxyInfo{Status: "ready"}; return a }(), false},
		{"string", "edge-1234", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, werr := json.Marshal(tc.v)
			got, gerr := marshal(tc.v)
			if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
				t.Fatalf("marshal:\n got %s (%v)\nwant %s (%v)", got, gerr, want, werr)
			}
			var fast bool
			switch r := tc.v.(type) {
			case storage.Event:
				_, fast = appendEvent(nil, &r)
			case storage.Location:
				_, fast = appendLocation(nil, &r)
			case storage.Asset:
				_, fast = appendAsset(nil, &r)
			}
			if fast != tc.fast {
				t.Fatalf("hand encoder took it: %v, want %v", fast, tc.fast)
			}
		})
	}
}
