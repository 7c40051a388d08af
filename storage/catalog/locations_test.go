package catalog

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/storage"
)

// step is one change reported to the catalog and the events it must write.
type step struct {
	put    *storage.FileRecord
	remove [2]string // volume, path
	want   []string  // event types, in order
	detail string    // detail of the last event, when not empty
}

func put(r storage.FileRecord, want ...string) step { return step{put: &r, want: want} }
func del(vol, path string, want ...string) step {
	return step{remove: [2]string{vol, path}, want: want}
}
func (s step) withDetail(d string) step { s.detail = d; return s }

const (
	cat = storage.EvAssetCataloged
	add = storage.EvLocationAdded
	chg = storage.EvLocationChanged
	rm  = storage.EvLocationRemoved
	upd = storage.EvAssetUpdated
)

// states lists an asset document's locations as volume:path:state, with
// "+replaced_by" when set.
func states(t *testing.T, c *Catalog, content string) []string {
	t.Helper()
	doc, err := c.Asset(id(content))
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, l := range doc.Locations {
		s := l.Volume + ":" + l.Path + ":" + l.State
		if l.AssetID != id(content) {
			s += ":wrong asset " + l.AssetID
		}
		if l.State == storage.LocRemoved && l.Removed.IsZero() {
			s += ":no removed time"
		}
		if l.State == storage.LocPresent && !l.Removed.IsZero() {
			s += ":removed time while present"
		}
		if l.ReplacedBy != "" {
			s += "+" + l.ReplacedBy
		}
		out = append(out, s)
	}
	return out
}

func wantStates(t *testing.T, c *Catalog, content string, want ...string) {
	t.Helper()
	if got := states(t, c, content); !reflect.DeepEqual(got, append([]string{}, want...)) {
		t.Fatalf("asset %q locations %q, want %q", content, got, want)
	}
}

func TestPutFileAndRemove(t *testing.T) {
	cases := []struct {
		name  string
		steps []step
		check func(t *testing.T, c *Catalog)
	}{
		{
			name: "duplicates: same bytes at two paths are one asset with two locations",
			steps: []step{
				put(rec("v", "a/one.mov", "AAAA", 1, 10), cat, add),
				put(rec("v", "b/two.mov", "AAAA", 2, 11), add),
			},
			check: func(t *testing.T, c *Catalog) {
				doc, err := c.Asset(id("AAAA"))
				if err != nil {
					t.Fatal(err)
				}
				var paths []string
				for _, l := range doc.Locations {
					paths = append(paths, l.Path)
				}
				if !reflect.DeepEqual(paths, []string{"a/one.mov", "b/two.mov"}) {
					t.Fatalf("locations %v", paths)
				}
				if doc.Size != 4 || doc.Hashes != hashes("AAAA") || doc.FirstSeen.IsZero() {
					t.Fatalf("asset record %+v", doc.Asset)
				}
			},
		},
		{
			name: "rewrite in place: new asset, history keeps the old one, index moves",
			steps: []step{
				put(rec("v", "clip.mov", "old", 1, 10), cat, add),
				put(rec("v", "clip.mov", "new!", 2, 10), cat, chg, upd).withDetail("location replaced by " + id("new!")),
			},
			check: func(t *testing.T, c *Catalog) {
				loc, err := c.Location("v", "clip.mov")
				if err != nil {
					t.Fatal(err)
				}
				if loc.AssetID != id("new!") || loc.Size != 4 || loc.State != storage.LocPresent {
					t.Fatalf("location %+v", loc)
				}
				if len(loc.History) != 1 || loc.History[0].AssetID != id("old") || loc.History[0].Size != 3 ||
					!loc.History[0].MTime.Equal(rec("", "", "", 1, 0).MTime) || loc.History[0].Replaced.IsZero() {
					t.Fatalf("history %+v", loc.History)
				}
				old, err := c.Asset(id("old"))
				if err != nil {
					t.Fatalf("old asset must stay: %v", err)
				}
				if len(old.Locations) != 1 || old.Locations[0].Size != 3 || !old.Locations[0].MTime.Equal(rec("", "", "", 1, 0).MTime) {
					t.Fatalf("old asset locations %+v", old.Locations)
				}
				wantStates(t, c, "old", "v:clip.mov:removed+"+id("new!"))
				wantStates(t, c, "new!", "v:clip.mov:present")
				// location.changed names the new content and the old one;
				// asset.updated carries the old one's id.
				evs := allEvents(t, c)
				chgEv, updEv := evs[len(evs)-2], evs[len(evs)-1]
				if chgEv.AssetID != id("new!") || chgEv.Detail != "content replaced "+id("old") {
					t.Fatalf("location.changed %+v", chgEv)
				}
				if updEv.AssetID != id("old") || updEv.Volume != "v" || updEv.Path != "clip.mov" {
					t.Fatalf("asset.updated %+v", updEv)
				}
			},
		},
		{
			name: "same content and stat: no write, no event",
			steps: []step{
				put(rec("v", "x", "same", 1, 10), cat, add),
				put(rec("v", "x", "same", 1, 10)),
				put(rec("v", "x", "same", 1, 10)),
			},
		},
		{
			name: "same content, other mtime or inode: metadata change",
			steps: []step{
				put(rec("v", "x", "same", 1, 10), cat, add),
				put(rec("v", "x", "same", 5, 10), chg).withDetail("metadata"),
				put(rec("v", "x", "same", 5, 99), chg).withDetail("metadata"),
				put(rec("v", "x", "same", 5, 99)),
			},
			check: func(t *testing.T, c *Catalog) {
				loc, _ := c.Location("v", "x")
				if loc.Inode != 99 || !loc.MTime.Equal(rec("", "", "", 5, 0).MTime) || len(loc.History) != 0 {
					t.Fatalf("location %+v", loc)
				}
			},
		},
		{
			name: "removal keeps the record, drops the index; second removal is silent",
			steps: []step{
				put(rec("v", "gone.wav", "wav", 1, 10), cat, add),
				del("v", "gone.wav", rm).withDetail("deleted"),
				del("v", "gone.wav"),
				del("v", "never-was.wav"),
			},
			check: func(t *testing.T, c *Catalog) {
				loc, err := c.Location("v", "gone.wav")
				if err != nil || loc.State != storage.LocRemoved || loc.AssetID != id("wav") {
					t.Fatalf("removed location %+v, %v", loc, err)
				}
				if loc.Removed.IsZero() {
					t.Fatalf("removed location without its time: %+v", loc)
				}
				wantStates(t, c, "wav", "v:gone.wav:removed")
			},
		},
		{
			name: "a removed path reappearing is added again",
			steps: []step{
				put(rec("v", "back.mov", "b", 1, 10), cat, add),
				del("v", "back.mov", rm).withDetail("deleted"),
				put(rec("v", "back.mov", "b", 1, 10), add),
				put(rec("v", "back.mov", "b", 1, 10)),
			},
			check: func(t *testing.T, c *Catalog) {
				wantStates(t, c, "b", "v:back.mov:present")
				if loc, _ := c.Location("v", "back.mov"); !loc.Removed.IsZero() {
					t.Fatalf("present again but removed time kept: %+v", loc)
				}
			},
		},
		{
			name: "a removed path reappearing with other content keeps the old one in history",
			steps: []step{
				put(rec("v", "p", "first", 1, 10), cat, add),
				del("v", "p", rm).withDetail("deleted"),
				put(rec("v", "p", "second", 2, 11), cat, add),
			},
			check: func(t *testing.T, c *Catalog) {
				loc, _ := c.Location("v", "p")
				if loc.AssetID != id("second") || len(loc.History) != 1 || loc.History[0].AssetID != id("first") {
					t.Fatalf("location %+v", loc)
				}
				wantStates(t, c, "first", "v:p:removed")
				wantStates(t, c, "second", "v:p:present")
			},
		},
		{
			name: "same path on two volumes is two locations",
			steps: []step{
				put(rec("a", "same/path", "x", 1, 1), cat, add),
				put(rec("b", "same/path", "x", 1, 1), add),
				del("a", "same/path", rm).withDetail("deleted"),
			},
			check: func(t *testing.T, c *Catalog) {
				wantStates(t, c, "x", "a:same/path:removed", "b:same/path:present")
			},
		},
		{
			name: "content back at a path it was replaced at is present there again, not also removed",
			steps: []step{
				put(rec("v", "p", "X", 1, 10), cat, add),
				put(rec("v", "p", "Y", 2, 10), cat, chg, upd),
				put(rec("v", "p", "X", 3, 10), chg, upd),
			},
			check: func(t *testing.T, c *Catalog) {
				wantStates(t, c, "X", "v:p:present")
				wantStates(t, c, "Y", "v:p:removed+"+id("X"))
			},
		},
		{
			name: "a move: the old path removed, the new one present, both events carry the id",
			steps: []step{
				put(rec("v", "a/clip.mov", "M", 1, 10), cat, add),
				del("v", "a/clip.mov", rm),
				put(rec("v", "b/clip.mov", "M", 1, 10), add),
			},
			check: func(t *testing.T, c *Catalog) {
				wantStates(t, c, "M", "v:a/clip.mov:removed", "v:b/clip.mov:present")
			},
		},
		{
			name: "names differing only in invalid UTF-8 bytes are two locations",
			steps: []step{
				put(rec("v", "a\xff.mov", "U", 1, 10), cat, add),
				put(rec("v", "a\xfe.mov", "U", 1, 11), add),
				del("v", "a\xfe.mov", rm),
			},
			check: func(t *testing.T, c *Catalog) {
				wantStates(t, c, "U", "v:a\xfe.mov:removed", "v:a\xff.mov:present")
				for _, p := range []string{"a\xff.mov", "a\xfe.mov"} {
					if loc, err := c.Location("v", p); err != nil || loc.Path != p {
						t.Fatalf("location %q: %+v, %v", p, loc, err)
					}
				}
				var paths []string
				for _, e := range allEvents(t, c) {
					paths = append(paths, e.Path)
				}
				if want := []string{"a\xff.mov", "a\xff.mov", "a\xfe.mov", "a\xfe.mov"}; !reflect.DeepEqual(paths, want) {
					t.Fatalf("event paths %q, want %q", paths, want)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newCat(t, Options{})
			var written []storage.Event
			for i, s := range tc.steps {
				var evs []storage.Event
				var err error
				if s.put != nil {
					evs, err = c.PutFile(*s.put)
				} else {
					evs, err = c.RemoveLocation(s.remove[0], s.remove[1], "deleted")
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if got := types(evs); !reflect.DeepEqual(got, append([]string{}, s.want...)) {
					t.Fatalf("step %d: events %v, want %v", i, got, s.want)
				}
				if s.detail != "" && evs[len(evs)-1].Detail != s.detail {
					t.Fatalf("step %d: detail %q, want %q", i, evs[len(evs)-1].Detail, s.detail)
				}
				for _, e := range evs {
					if e.Seq == 0 || e.Time.IsZero() || e.AssetID == "" || e.Volume == "" || e.Path == "" {
						t.Fatalf("step %d: incomplete event %+v", i, e)
					}
				}
				written = append(written, evs...)
			}
			// What PutFile/RemoveLocation returned is exactly the log.
			if log := allEvents(t, c); !reflect.DeepEqual(log, append([]storage.Event{}, written...)) {
				t.Fatalf("log %+v\nreturned %+v", log, written)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestHistoryIsCapped(t *testing.T) {
	c, _ := newCat(t, fast)
	for i := range maxHistory + 5 {
		if _, err := c.PutFile(rec("v", "p", fmt.Sprint("v", i), int64(i), 1)); err != nil {
			t.Fatal(err)
		}
	}
	loc, _ := c.Location("v", "p")
	if len(loc.History) != maxHistory {
		t.Fatalf("history length %d", len(loc.History))
	}
	// Versions 0..maxHistory+3 were replaced; the oldest four are dropped.
	if loc.History[0].AssetID != id("v4") || loc.History[maxHistory-1].AssetID != id(fmt.Sprint("v", maxHistory+3)) {
		t.Fatalf("history keeps the wrong versions")
	}
}

func TestPutFileRejectsBadRecords(t *testing.T) {
	c, _ := newCat(t, Options{})
	good := rec("v", "p", "x", 1, 1)
	cases := map[string]func(r *storage.FileRecord){
		"empty volume":     func(r *storage.FileRecord) { r.Volume = "" },
		"empty path":       func(r *storage.FileRecord) { r.Path = "" },
		"NUL in path":      func(r *storage.FileRecord) { r.Path = "a\x00b" },
		"NUL in volume":    func(r *storage.FileRecord) { r.Volume = "a\x00b" },
		"no hash":          func(r *storage.FileRecord) { r.Hashes.BLAKE3 = "" },
		"uppercase hash":   func(r *storage.FileRecord) { r.Hashes.BLAKE3 = strings.ToUpper(r.Hashes.BLAKE3) },
		"slash in hash id": func(r *storage.FileRecord) { r.Hashes.BLAKE3 = "ab/cd" },
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			r := good
			mut(&r)
			if _, err := c.PutFile(r); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if c.LastSeq() != 0 {
		t.Fatalf("rejected records wrote events")
	}
}

func TestLocationNotFound(t *testing.T) {
	c, _ := newCat(t, Options{})
	if _, err := c.Location("v", "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("err %v", err)
	}
}

func TestWalkLocations(t *testing.T) {
	c, _ := newCat(t, Options{})
	// "foot" is a prefix of "footage": the walk must not mix volumes.
	for _, r := range []storage.FileRecord{
		rec("footage", "b.mov", "1", 1, 1),
		rec("footage", "a/z.mov", "22", 1, 2),
		rec("footage", "a.mov", "333", 1, 3),
		rec("footage", "deleted.mov", "4444", 1, 4),
		rec("foot", "other.mov", "55555", 1, 5),
		rec("footage2", "other.mov", "666666", 1, 6),
	} {
		if _, err := c.PutFile(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.RemoveLocation("footage", "deleted.mov", "deleted"); err != nil {
		t.Fatal(err)
	}
	var paths []string
	err := c.WalkLocations("footage", func(l storage.Location) error {
		if l.Volume != "footage" || l.State != storage.LocPresent || l.Inode == 0 || l.MTime.IsZero() {
			t.Errorf("location %+v", l)
		}
		paths = append(paths, l.Path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a.mov", "a/z.mov", "b.mov"}; !reflect.DeepEqual(paths, want) { // bytewise: '.' < '/'
		t.Fatalf("walk %q, want %q", paths, want)
	}
	files, bytes, err := c.VolumeStats("footage")
	if err != nil || files != 3 || bytes != 1+2+3 {
		t.Fatalf("stats %d files %d bytes, %v", files, bytes, err)
	}
	if files, bytes, _ := c.VolumeStats("empty"); files != 0 || bytes != 0 {
		t.Fatalf("empty volume stats %d %d", files, bytes)
	}

	stop := errors.New("stop")
	n := 0
	err = c.WalkLocations("footage", func(storage.Location) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("callback error: got %v after %d calls", err, n)
	}

	// The callback may write to the catalog (reconcile removes as it walks).
	err = c.WalkLocations("footage", func(l storage.Location) error {
		_, err := c.RemoveLocation(l.Volume, l.Path, "gone")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if files, _, _ := c.VolumeStats("footage"); files != 0 {
		t.Fatalf("%d files left after removing all", files)
	}
}

// A volume can give one content any number of names, one after another: the
// asset document keeps the latest maxRemoved removed locations, not all.
func TestRemovedLocationsCapped(t *testing.T) {
	c, _ := newCat(t, fast)
	const n = maxRemoved + 7
	for i := range n {
		p := fmt.Sprintf("name%03d.mov", i)
		if _, err := c.PutFile(rec("v", p, "same", 1, uint64(i+1))); err != nil {
			t.Fatal(err)
		}
		if _, err := c.RemoveLocation("v", p, "deleted"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PutFile(rec("v", "last.mov", "same", 1, 999)); err != nil {
		t.Fatal(err)
	}
	doc, err := c.Asset(id("same"))
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Locations) != maxRemoved+1 {
		t.Fatalf("%d locations, want %d removed + 1 present", len(doc.Locations), maxRemoved)
	}
	names := map[string]string{}
	for _, l := range doc.Locations {
		names[l.Path] = l.State
	}
	if names["last.mov"] != storage.LocPresent {
		t.Fatalf("present location missing: %v", names)
	}
	for i := range n {
		p := fmt.Sprintf("name%03d.mov", i)
		if _, kept := names[p]; kept != (i >= n-maxRemoved) {
			t.Fatalf("%s kept=%v (the oldest removals go first)", p, kept)
		}
	}
	// The location records themselves all stay.
	if loc, err := c.Location("v", "name000.mov"); err != nil || loc.State != storage.LocRemoved {
		t.Fatalf("oldest location record %+v, %v", loc, err)
	}
}
