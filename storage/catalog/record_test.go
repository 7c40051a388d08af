package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ingestd/ingestd/storage"
)

// encodeEvent is the binary form of e alone (its Seq is the key), as a
// key held one event before event blocks; the catalog writes blocks.
func encodeEvent(e *storage.Event) ([]byte, error) {
	return appendEventBody([]byte{recBinary}, e)
}

var (
	recT0    = time.Unix(1_700_000_000, 987654321).UTC()
	recParis = time.FixedZone("", 3600)
)

func TestEventRecordRoundTrip(t *testing.T) {
	base := storage.Event{Type: storage.EvLocationAdded, AssetID: id("a"), Volume: "footage",
		Path: "day1/A001.mov", Time: recT0}
	cases := []struct {
		name string
		ev   func(e *storage.Event)
	}{
		{"plain", func(e *storage.Event) {}},
		{"every known type", nil},
		{"unknown type", func(e *storage.Event) { e.Type = "something.new" }},
		{"no asset", func(e *storage.Event) { e.AssetID, e.Path = "", "" }},
		{"id not hex", func(e *storage.Event) { e.AssetID = "seq-42" }},
		{"id upper-case hex", func(e *storage.Event) { e.AssetID = strings.ToUpper(id("a")) }},
		{"id odd length hex", func(e *storage.Event) { e.AssetID = "abc" }},
		{"detail and escapes", func(e *storage.Event) { e.Detail = "content replaced \"x\"\n<&>" }},
		{"invalid utf-8 path", func(e *storage.Event) { e.Path = "caf\xe9/\xff.mov" }},
		{"offset time", func(e *storage.Event) { e.Time = recT0.In(recParis) }},
		{"zero time", func(e *storage.Event) { e.Time = time.Time{} }},
		{"year 0 and 9999", func(e *storage.Event) { e.Time = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC) }},
		{"before 1970", func(e *storage.Event) { e.Time = time.Date(1, 1, 1, 0, 0, 1, 5, time.UTC) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs := []storage.Event{base}
			if tc.ev == nil {
				evs = nil
				for _, typ := range eventTypeCodes[1:] {
					e := base
					e.Type = typ
					evs = append(evs, e)
				}
			} else {
				tc.ev(&evs[0])
			}
			for _, e := range evs {
				b, err := encodeEvent(&e)
				if err != nil {
					t.Fatal(err)
				}
				var got storage.Event
				if err := decodeEvent(b, 77, &got); err != nil {
					t.Fatalf("decode %x: %v", b, err)
				}
				want := e
				want.Seq = 77
				if !sameEvent(got, want) {
					t.Fatalf("round trip\n got %+v\nwant %+v", got, want)
				}
				// The legacy form (JSON) decodes to the same event.
				j, err := json.Marshal(want)
				if err != nil {
					t.Fatal(err)
				}
				var legacy storage.Event
				if err := decodeEvent(j, 77, &legacy); err != nil || !sameEvent(legacy, want) {
					t.Fatalf("legacy %s: %+v %v", j, legacy, err)
				}
			}
		})
	}
}

// sameEvent compares events as their JSON does (a time's zone by offset).
func sameEvent(a, b storage.Event) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb) && a.Path == b.Path && a.Time.Equal(b.Time)
}

func TestLocationRecordRoundTrip(t *testing.T) {
	base := storage.Location{
		Volume: "footage", Path: "day1/A001.mov", AssetID: id("x"), Size: 1234,
		MTime: recT0, Inode: 1 << 40, Dev: 2049, State: storage.LocPresent, Seen: recT0.Add(time.Second),
	}
	cases := []struct {
		name string
		loc  func(l *storage.Location)
	}{
		{"plain", func(l *storage.Location) {}},
		{"removed", func(l *storage.Location) {
			l.State, l.Removed, l.ReplacedBy = storage.LocRemoved, recT0.Add(time.Hour), id("next")
		}},
		{"other state", func(l *storage.Location) { l.State = "weird" }},
		{"empty state", func(l *storage.Location) { l.State = "" }},
		{"zero record", func(l *storage.Location) { *l = storage.Location{Volume: "v", Path: "p"} }},
		{"offset mtime", func(l *storage.Location) { l.MTime = l.MTime.In(recParis) }},
		{"extremes", func(l *storage.Location) { l.Size, l.Inode, l.Dev = -1<<63, ^uint64(0), ^uint64(0) }},
		{"max size", func(l *storage.Location) { l.Size = 1<<63 - 1 }},
		{"id not hex", func(l *storage.Location) { l.AssetID = "Zz" }},
		{"history", func(l *storage.Location) {
			l.History = []storage.Version{
				{AssetID: id("old"), Size: 3, MTime: recT0.Add(-time.Hour), Replaced: recT0},
				{AssetID: id("older"), Size: 0, MTime: time.Time{}, Replaced: recT0.In(recParis)},
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			loc := base
			tc.loc(&loc)
			b, err := encodeLocation(&loc)
			if err != nil {
				t.Fatal(err)
			}
			var got storage.Location
			if err := decodeLocation(b, loc.Volume, loc.Path, &got); err != nil {
				t.Fatalf("decode %x: %v", b, err)
			}
			if !sameJSON(t, got, loc) {
				t.Fatalf("round trip\n got %+v\nwant %+v", got, loc)
			}
			if !got.MTime.Equal(loc.MTime) || !got.Seen.Equal(loc.Seen) || !got.Removed.Equal(loc.Removed) {
				t.Fatalf("times differ: %+v", got)
			}
		})
	}
}

func TestAssetRecordRoundTrip(t *testing.T) {
	base := storage.Asset{ID: id("a"), Size: 99, Hashes: storage.Hashes{BLAKE3: id("a"), XXH128: "00ff00ff00ff00ff00ff00ff00ff00ff"},
		FirstSeen: recT0}
	cases := []struct {
		name string
		a    func(a *storage.Asset)
	}{
		{"first ingest", func(a *storage.Asset) {}},
		{"no xxh128", func(a *storage.Asset) { a.Hashes.XXH128 = "" }},
		{"blake3 differs from the id", func(a *storage.Asset) { a.Hashes.BLAKE3 = id("other") }},
		{"blake3 empty", func(a *storage.Asset) { a.Hashes.BLAKE3 = "" }},
		{"stage results", func(a *storage.Asset) {
			a.Kind = "video"
			a.Media = &storage.Media{Container: "mov,mp4", Duration: 1.5}
			a.Proxy = &storage.ProxyInfo{Status: "ready", Outputs: []string{"proxy.mp4"}}
			a.Sync = &storage.SyncInfo{Status: "synced"}
			a.Camera = &storage.Camera{Source: "xml", Model: "FX6"}
			a.Analysis = &storage.AnalysisInfo{Status: "ready", Verdict: "pass", At: recT0}
			a.Origin = &storage.OriginInfo{}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := base
			tc.a(&a)
			b, err := encodeAsset(&a)
			if err != nil {
				t.Fatal(err)
			}
			var got storage.Asset
			if err := decodeAsset(b, a.ID, &got); err != nil {
				t.Fatalf("decode %x: %v", b, err)
			}
			if !sameJSON(t, got, a) {
				t.Fatalf("round trip\n got %+v\nwant %+v", got, a)
			}
			j, _ := json.Marshal(a)
			var legacy storage.Asset
			if err := decodeAsset(j, a.ID, &legacy); err != nil || !sameJSON(t, legacy, a) {
				t.Fatalf("legacy %s: %+v %v", j, legacy, err)
			}
		})
	}
}

func sameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}

// TestAssetTailCoversAsset: every field of storage.Asset is either one the
// binary form stores itself or in assetTail with the same type and tag, so
// a field added to the asset is not silently dropped by the catalog.
func TestAssetTailCoversAsset(t *testing.T) {
	fixed := map[string]bool{"ID": true, "Size": true, "Hashes": true, "FirstSeen": true}
	at := reflect.TypeOf(storage.Asset{})
	tt := reflect.TypeOf(assetTail{})
	n := 0
	for i := 0; i < at.NumField(); i++ {
		f := at.Field(i)
		if fixed[f.Name] {
			continue
		}
		n++
		g, ok := tt.FieldByName(f.Name)
		if !ok || g.Type != f.Type || g.Tag != f.Tag {
			t.Errorf("storage.Asset.%s (%s %s) is not in assetTail alike", f.Name, f.Type, f.Tag)
		}
	}
	if n != tt.NumField() {
		t.Errorf("assetTail has %d fields, storage.Asset %d beyond the fixed ones", tt.NumField(), n)
	}
	if reflect.TypeOf(storage.Hashes{}).NumField() != 2 {
		t.Errorf("storage.Hashes changed: encodeAsset stores BLAKE3 and XXH128 only")
	}
}

// The binary form of a first ingest's records is well under half their
// JSON (the point of it: Badger writes and compacts every byte many times).
func TestRecordsSmallerThanJSON(t *testing.T) {
	ev := storage.Event{Type: storage.EvAssetCataloged, AssetID: id("a"), Volume: "bench", Path: "d0001/f000001.dat", Time: recT0}
	loc := storage.Location{Volume: "bench", Path: ev.Path, AssetID: id("a"), Size: 4096, MTime: recT0, Inode: 123456,
		Dev: 66306, State: storage.LocPresent, Seen: recT0}
	a := storage.Asset{ID: id("a"), Size: 4096, Hashes: storage.Hashes{BLAKE3: id("a"), XXH128: strings.Repeat("ab", 16)}, FirstSeen: recT0}
	for _, tc := range []struct {
		name string
		v    any
		bin  func() ([]byte, error)
	}{
		{"event", ev, func() ([]byte, error) { return encodeEvent(&ev) }},
		{"location", loc, func() ([]byte, error) { return encodeLocation(&loc) }},
		{"asset", a, func() ([]byte, error) { return encodeAsset(&a) }},
	} {
		j, _ := json.Marshal(tc.v)
		b, err := tc.bin()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes binary, %d JSON", tc.name, len(b), len(j))
		if 2*len(b) > len(j) {
			t.Errorf("%s: %d bytes binary against %d JSON", tc.name, len(b), len(j))
		}
	}
}

// A time JSON cannot hold is refused, as it was when records were JSON.
func TestRecordRefusesUnstorableTime(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		recT0.In(time.FixedZone("", 24*3600)),
	} {
		loc := storage.Location{AssetID: id("a"), MTime: tm, State: storage.LocPresent}
		if _, err := encodeLocation(&loc); err == nil {
			t.Errorf("mtime %s stored", tm)
		}
		if _, err := json.Marshal(loc); err == nil {
			t.Errorf("encoding/json stores %s too: the check is stricter than before", tm)
		}
	}
}

// Damaged records are errors, never a panic or a half-filled record taken
// as good: every truncation of good records, and bytes that lie.
func TestDecodeDamagedRecords(t *testing.T) {
	ev := storage.Event{Type: "x.custom", AssetID: id("a"), Volume: "v", Path: "p", Time: recT0.In(recParis), Detail: "d"}
	loc := storage.Location{AssetID: id("x"), Size: 5, MTime: recT0, State: "odd", ReplacedBy: "r",
		History: []storage.Version{{AssetID: id("o"), Size: 1, MTime: recT0, Replaced: recT0}}}
	a := storage.Asset{ID: id("a"), Hashes: storage.Hashes{BLAKE3: id("b"), XXH128: "ff"}, FirstSeen: recT0}
	eb, _ := encodeEvent(&ev)
	lb, _ := encodeLocation(&loc)
	ab, _ := encodeAsset(&a)
	decoders := map[string]func([]byte) error{
		"event":    func(b []byte) error { var e storage.Event; return decodeEvent(b, 1, &e) },
		"location": func(b []byte) error { var l storage.Location; return decodeLocation(b, "v", "p", &l) },
		"asset":    func(b []byte) error { var x storage.Asset; return decodeAsset(b, id("a"), &x) },
	}
	good := map[string][]byte{"event": eb, "location": lb, "asset": ab}
	for name, dec := range decoders {
		b := good[name]
		if err := dec(b); err != nil {
			t.Fatalf("%s: good record: %v", name, err)
		}
		for n := 0; n < len(b); n++ {
			if err := dec(b[:n]); err == nil {
				t.Errorf("%s truncated to %d of %d bytes decoded without error", name, n, len(b))
			}
		}
		for _, bad := range [][]byte{{0x02}, {recBinary, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
			append(append([]byte{}, b...), 0)} {
			if name == "asset" && len(bad) == len(b)+1 {
				continue // the asset's tail is JSON: a stray NUL fails there (below)
			}
			if err := dec(bad); err == nil {
				t.Errorf("%s: %x decoded without error", name, bad)
			}
		}
	}
	if err := decoders["asset"](append(append([]byte{}, ab...), "{oops"...)); err == nil {
		t.Error("asset with a broken tail decoded")
	}
	// A lying length or code.
	for _, bad := range [][]byte{
		{recBinary, 200},           // type code out of the table
		{recBinary, 0, 50, 'a'},    // type string longer than the record
		{recBinary, 1, 1},          // hex id of no bytes
		{recBinary, 1, 0, 0, 0, 9}, // time kind 9
		{recBinary, 1, 0, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, // nanoseconds past a second
	} {
		if err := decoders["event"](bad); err == nil {
			t.Errorf("event %x decoded without error", bad)
		}
	}
	var l storage.Location
	if err := decodeLocation([]byte{recBinary, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0xff, 0xff, 0x03}, "v", "p", &l); !errors.Is(err, errRecord) {
		t.Errorf("location claiming 65535 versions: %v", err)
	}
}

func FuzzDecodeRecords(f *testing.F) {
	ev := storage.Event{Type: storage.EvAssetCataloged, AssetID: id("a"), Volume: "v", Path: "p", Time: recT0}
	loc := storage.Location{AssetID: id("x"), Size: 5, MTime: recT0, State: storage.LocPresent,
		History: []storage.Version{{AssetID: id("o"), Size: 1, MTime: recT0, Replaced: recT0}}}
	a := storage.Asset{ID: id("a"), Hashes: storage.Hashes{BLAKE3: id("a"), XXH128: "ff"}, Kind: "video"}
	for _, enc := range []func() ([]byte, error){
		func() ([]byte, error) { return encodeEvent(&ev) },
		func() ([]byte, error) { return encodeLocation(&loc) },
		func() ([]byte, error) { return encodeAsset(&a) },
	} {
		b, _ := enc()
		f.Add(b)
	}
	var blk eventBlock
	for i := range 2 {
		e := ev
		e.Seq = uint64(5 + i)
		_ = blk.add(&e)
	}
	f.Add(blk.value())
	f.Fuzz(func(t *testing.T, b []byte) {
		var e storage.Event
		if decodeEvent(b, 1, &e) == nil {
			if nb, err := encodeEvent(&e); err == nil {
				var e2 storage.Event
				if err := decodeEvent(nb, 1, &e2); err != nil || !sameEvent(e, e2) {
					t.Fatalf("event %+v does not survive re-encoding: %v", e, err)
				}
			}
		}
		_ = decodeEvents(b, 5, 0, func(storage.Event) bool { return true })
		if n, err := eventCount(b); err == nil && (n == 0 || n > maxBlockEvents) {
			t.Fatalf("event count %d", n)
		}
		var l storage.Location
		_ = decodeLocation(b, "v", "p", &l)
		var x storage.Asset
		_ = decodeAsset(b, id("a"), &x)
	})
}

// TestLegacyJSONCatalog: a catalog whose records an older version wrote as
// JSON reads as before, and its records change into the binary form as
// they are written again.
func TestLegacyJSONCatalog(t *testing.T) {
	c, dir := newCat(t, Options{})
	if _, err := c.PutFile(rec("v", "seed", "seed", 1, 1)); err != nil {
		t.Fatal(err)
	}
	old := storage.Asset{ID: id("old"), Size: 3, Hashes: storage.Hashes{BLAKE3: id("old"), XXH128: "0123"}, FirstSeen: recT0, Kind: "other"}
	oldLoc := storage.Location{Volume: "v", Path: "dir/old.bin", AssetID: old.ID, Size: 3, MTime: recT0, Inode: 9, Dev: 1,
		State: storage.LocPresent, Seen: recT0,
		History: []storage.Version{{AssetID: id("older"), Size: 2, MTime: recT0.Add(-time.Hour), Replaced: recT0}}}
	last := c.LastSeq()
	oldEv := storage.Event{Seq: last + 1, Type: storage.EvAssetCataloged, AssetID: old.ID, Volume: "v", Path: oldLoc.Path, Time: recT0}
	put := func(txn *badger.Txn, k []byte, v any, meta byte) {
		var j []byte // an index key's empty value
		if v != nil {
			var err error
			if j, err = json.Marshal(v); err != nil {
				t.Fatal(err)
			}
		}
		if err := txn.SetEntry(badger.NewEntry(k, j).WithMeta(meta)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.db.Update(func(txn *badger.Txn) error {
		put(txn, assetKey(old.ID), old, 0)
		put(txn, locKey("v", oldLoc.Path), oldLoc, 0)
		put(txn, indexKey(old.ID, "v", oldLoc.Path), nil, 0)
		put(txn, eventKey(oldEv.Seq), oldEv, 0)
		put(txn, assetEventKey(old.ID, oldEv.Seq), nil, 0)
		// And one event alone in the binary form, as this version wrote
		// before event blocks.
		single := storage.Event{Type: "volume.online", Volume: "v", Time: recT0}
		b, err := encodeEvent(&single)
		if err != nil {
			return err
		}
		return txn.Set(eventKey(oldEv.Seq+1), b)
	}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c = open(t, dir, Options{})
	doc, err := c.Asset(old.ID)
	if err != nil || doc.Kind != "other" || len(doc.Locations) != 1 || len(doc.Locations[0].History) != 1 {
		t.Fatalf("legacy asset %+v %v", doc, err)
	}
	evs, err := c.AssetEvents(old.ID, 0, 10, false)
	if err != nil || len(evs) != 1 || evs[0].Seq != oldEv.Seq || evs[0].Path != oldLoc.Path {
		t.Fatalf("legacy asset events %+v %v", evs, err)
	}
	all := allEvents(t, c)
	if n := len(all); n < 2 || all[n-2].Type != storage.EvAssetCataloged || all[n-2].AssetID != old.ID || all[n-2].Seq != oldEv.Seq ||
		all[n-1].Type != "volume.online" || all[n-1].Seq != oldEv.Seq+1 || c.LastSeq() != oldEv.Seq+1 {
		t.Fatalf("legacy events in the log: %+v, last seq %d", all[max(0, n-2):], c.LastSeq())
	}
	if evs, err := c.Events(oldEv.Seq, 10); err != nil || len(evs) != 1 || evs[0].Seq != oldEv.Seq+1 {
		t.Fatalf("events after the legacy one: %+v %v", evs, err)
	}
	if files, bytes, err := c.VolumeStats("v"); err != nil || files != 2 || bytes != 7 {
		t.Fatalf("volume stats %d %d %v", files, bytes, err)
	}
	// Rewritten: the legacy location's history survives into the binary form.
	r := rec("v", oldLoc.Path, "new content", 5, 9)
	if _, err := c.PutFile(r); err != nil {
		t.Fatal(err)
	}
	l, err := c.Location("v", oldLoc.Path)
	if err != nil || len(l.History) != 2 || l.History[0].AssetID != id("older") || l.History[1].AssetID != old.ID {
		t.Fatalf("rewritten legacy location %+v %v", l, err)
	}
	if err := c.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(locKey("v", oldLoc.Path))
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error {
			if b[0] != recBinary {
				t.Errorf("rewritten location still %q", b)
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
}

// TestEventBlocks: the events of a transaction are one e/ value; the feed
// reads the same events from any cursor, inside a block or between, with
// any page size, and the newest seq survives a reopen.
func TestEventBlocks(t *testing.T) {
	c, dir := newCat(t, Options{})
	var want []storage.Event
	txns := 0
	for round := range 3 {
		evs, err := c.write(func(w *txw) error {
			for i := range 300 {
				if err := w.putFile(rec("v", fmt.Sprintf("r%d/%04d", round, i), fmt.Sprint(round, "/", i), 1, uint64(i))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, evs...)
		txns++
		e, err := c.AppendEvent(storage.Event{Type: "appliance.started"})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, e)
		txns++
	}
	if len(want) != 3*601 {
		t.Fatalf("%d events written", len(want))
	}
	keys := 0
	if err := c.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pfxEvent)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if keys != txns {
		t.Fatalf("%d event keys for %d transactions", keys, txns)
	}
	last := c.LastSeq()
	if last != want[len(want)-1].Seq {
		t.Fatalf("last seq %d, want %d", last, want[len(want)-1].Seq)
	}
	for after := uint64(0); after <= last+1; after += 7 {
		for _, limit := range []int{1, 3, 1000} {
			got, err := c.Events(after, limit)
			if err != nil {
				t.Fatal(err)
			}
			var exp []storage.Event
			for _, e := range want {
				if e.Seq > after && len(exp) < limit {
					exp = append(exp, e)
				}
			}
			if len(got) != len(exp) {
				t.Fatalf("after %d limit %d: %d events, want %d", after, limit, len(got), len(exp))
			}
			for i := range got {
				if !sameEvent(got[i], exp[i]) {
					t.Fatalf("after %d limit %d: event %d\n got %+v\nwant %+v", after, limit, i, got[i], exp[i])
				}
			}
		}
	}
	c.Close()
	c = open(t, dir, Options{})
	if got := c.LastSeq(); got != last {
		t.Fatalf("last seq after reopen %d, want %d", got, last)
	}
	if e, err := c.AppendEvent(storage.Event{Type: "appliance.started"}); err != nil || e.Seq != last+1 {
		t.Fatalf("next event %d %v, want seq %d", e.Seq, err, last+1)
	}
}

// A damaged block is an error for the feed, not a short or wrong page.
func TestEventBlockDamaged(t *testing.T) {
	var k eventBlock
	for i := range 3 {
		e := storage.Event{Seq: 10 + uint64(i), Type: storage.EvLocationAdded, AssetID: id("a"), Path: fmt.Sprint(i), Time: recT0}
		if err := k.add(&e); err != nil {
			t.Fatal(err)
		}
	}
	e := storage.Event{Seq: 20, Type: "x"}
	if err := k.add(&e); err == nil {
		t.Fatal("an event out of order joined the block")
	}
	good := k.value()
	n := 0
	if err := decodeEvents(good, 10, 0, func(e storage.Event) bool { n++; return e.Seq == 10+uint64(n-1) }); err != nil || n != 3 {
		t.Fatalf("good block: %d events, %v", n, err)
	}
	for cut := 1; cut < len(good); cut++ {
		if err := decodeEvents(good[:cut], 10, 0, func(storage.Event) bool { return true }); err == nil {
			t.Errorf("block cut to %d of %d bytes decoded", cut, len(good))
		}
	}
	for _, bad := range [][]byte{{recBlock, 0}, {recBlock, 0xff, 0xff, 0xff, 0xff, 0x0f}, append(append([]byte{}, good...), 1)} {
		if err := decodeEvents(bad, 10, 0, func(storage.Event) bool { return true }); err == nil {
			t.Errorf("%x decoded", bad)
		}
	}
}

// Every event type docs/api.md lists has a code (a name stored as text
// still reads; a code is 1 byte), and the codes never repeat a name.
func TestEventTypeCodesCoverAPI(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	listed := regexp.MustCompile("(?m)^\\| `([a-z]+\\.[a-z_]+)` \\|").FindAllStringSubmatch(string(doc), -1)
	if len(listed) < 20 {
		t.Fatalf("found %d event types in docs/api.md's table", len(listed))
	}
	for _, m := range listed {
		if codeOf(eventTypeCodes, m[1]) == 0 {
			t.Errorf("event type %s (docs/api.md) has no code in eventTypeCodes", m[1])
		}
	}
	seen := map[string]bool{}
	for _, name := range eventTypeCodes[1:] {
		if name == "" || seen[name] {
			t.Errorf("event type code for %q empty or repeated", name)
		}
		seen[name] = true
	}
}
