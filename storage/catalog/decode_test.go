package catalog

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/ingestd/ingestd/storage"
)

func TestDecodeLocationMatchesEncodingJSON(t *testing.T) {
	base := storage.Location{
		Volume: "footage", Path: "day1/A001.mov", AssetID: id("x"), Size: 1234,
		MTime: time.Unix(1_700_000_000, 987654321).UTC(), Inode: 1 << 40, Dev: 2049,
		State: storage.LocPresent, Seen: time.Unix(1_700_000_100, 5).UTC(),
	}
	paris := time.FixedZone("", 3600)
	cases := []struct {
		name string
		loc  func(l *storage.Location)
		fast bool // the hand decoder must take this one
	}{
		{"plain", func(l *storage.Location) {}, true},
		{"removed", func(l *storage.Location) { l.State = storage.LocRemoved }, true},
		{"other state", func(l *storage.Location) { l.State = "weird" }, true},
		{"zero times and numbers", func(l *storage.Location) { *l = storage.Location{Path: "p"} }, true},
		{"offset mtime", func(l *storage.Location) { l.MTime = l.MTime.In(paris) }, true},
		{"negative size", func(l *storage.Location) { l.Size = -1 }, true},
		{"max inode", func(l *storage.Location) { l.Inode = ^uint64(0) }, true},
		{"min size", func(l *storage.Location) { l.Size = -1 << 63 }, false},
		{"max size", func(l *storage.Location) { l.Size = 1<<63 - 1 }, true},
		{"escapes in path", func(l *storage.Location) { l.Path = "a \"quoted\"\\name\n<&>\t.mov" }, true},
		{"unicode path", func(l *storage.Location) { l.Path = "Cafe\u0301/ファイル 😀.mov" }, true},
		{"invalid utf-8 path", func(l *storage.Location) { l.Path = "caf\xe9.mov" }, true},
		{"removed with time and successor", func(l *storage.Location) {
			l.State, l.Removed, l.ReplacedBy = storage.LocRemoved, base.Seen.Add(time.Hour), id("next")
		}, true},
		{"history", func(l *storage.Location) {
			l.History = []storage.Version{{AssetID: id("old"), Size: 3, MTime: base.MTime, Replaced: base.Seen}}
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			loc := base
			tc.loc(&loc)
			b, err := json.Marshal(loc)
			if err != nil {
				t.Fatal(err)
			}
			var want storage.Location
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			want.Volume, want.Path = loc.Volume, loc.Path // exact bytes from the key
			var got storage.Location
			if err := decodeLocation(b, loc.Volume, loc.Path, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decoded\n%+v\nencoding/json\n%+v", got, want)
			}
			var probe storage.Location
			if fast := fastLocation(b, &probe); fast != tc.fast {
				t.Fatalf("fast path taken = %v, want %v for %s", fast, tc.fast, b)
			}
		})
	}
	// Malformed values are errors, not zero records.
	for _, bad := range []string{``, `{`, `{"size":"x"}`, `{"size":1.5}`, `{"inode":-1}`,
		`{"inode":18446744073709551616}`, `{"mtime":"yesterday"}`, `[]`, `{"state":"present"}x`} {
		var l storage.Location
		if err := decodeLocation([]byte(bad), "v", "p", &l); err == nil {
			t.Errorf("%q decoded without error: %+v", bad, l)
		}
	}
}

// A file name that is not UTF-8 (as SMB shares deliver Latin-1 names) must
// come back byte for byte: the reconcile walk stats it by that name.
func TestNonUTF8PathRoundTrip(t *testing.T) {
	c, _ := newCat(t, Options{})
	name := "caf\xe9/\xff\xfe.mov"
	if _, err := c.PutFile(rec("v", name, "latin", 1, 1)); err != nil {
		t.Fatal(err)
	}
	if l, err := c.Location("v", name); err != nil || l.Path != name {
		t.Fatalf("location path %q %v", l.Path, err)
	}
	var walked []string
	c.WalkLocations("v", func(l storage.Location) error { walked = append(walked, l.Path); return nil })
	if len(walked) != 1 || walked[0] != name {
		t.Fatalf("walk %q", walked)
	}
	doc, _ := c.Asset(id("latin"))
	if len(doc.Locations) != 1 || doc.Locations[0].Path != name {
		t.Fatalf("asset locations %+v", doc.Locations)
	}
	if evs, _ := c.PutFile(rec("v", name, "latin", 1, 1)); len(evs) != 0 {
		t.Fatalf("unchanged non-UTF-8 file re-reported: %v", types(evs))
	}
	evs, _ := c.RemoveLocation("v", name, "deleted")
	if len(evs) != 1 {
		t.Fatalf("remove: %v", types(evs))
	}
	// The event read back from the log (JSON on disk) keeps the bytes.
	if log := allEvents(t, c); log[len(log)-1].Path != name {
		t.Fatalf("logged event path %q", log[len(log)-1].Path)
	}
	doc, _ = c.Asset(id("latin"))
	if len(doc.Locations) != 1 || doc.Locations[0].Path != name || doc.Locations[0].State != storage.LocRemoved {
		t.Fatalf("asset locations after removal %+v", doc.Locations)
	}
}
