package storage

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestPathJSONRoundTrip(t *testing.T) {
	cases := []struct {
		name    string
		path    string
		wantB64 bool
	}{
		{"ascii", "day 1/A001.mov", false},
		{"empty", "", false},
		{"nfd unicode", "Cafe\u0301/ファイル 😀.mov", false},
		{"latin-1 byte", "caf\xe9.mov", true},
		{"0xff", "a\xff.mov", true},
		{"0xfe", "a\xfe.mov", true},
		{"truncated utf-8", "a\xe3\x81.mov", true},
		{"surrogate half as utf-8", "a\xed\xa0\x80.mov", true},
		{"literal U+FFFD is valid", "a\ufffd.mov", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			loc := Location{Volume: "v", Path: tc.path, AssetID: "ab", State: LocPresent, MTime: time.Unix(1, 2).UTC()}
			ev := Event{Seq: 7, Type: EvLocationAdded, AssetID: "ab", Volume: "v", Path: tc.path, Time: time.Unix(3, 4).UTC()}
			for _, v := range []any{loc, &loc, ev, &ev} {
				b, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				var m map[string]any
				if err := json.Unmarshal(b, &m); err != nil {
					t.Fatal(err)
				}
				b64, has := m["path_b64"].(string)
				if has != tc.wantB64 {
					t.Fatalf("%T: path_b64 present=%v, want %v: %s", v, has, tc.wantB64, b)
				}
				if has {
					raw, err := base64.StdEncoding.DecodeString(b64)
					if err != nil || string(raw) != tc.path {
						t.Fatalf("%T: path_b64 %q decodes to %q, %v; want %q", v, b64, raw, err, tc.path)
					}
				}
			}
			b, _ := json.Marshal(loc)
			var gotLoc Location
			if err := json.Unmarshal(b, &gotLoc); err != nil {
				t.Fatal(err)
			}
			if gotLoc.Path != tc.path || gotLoc.AssetID != "ab" || !gotLoc.MTime.Equal(loc.MTime) || gotLoc.State != LocPresent {
				t.Fatalf("location round trip %+v", gotLoc)
			}
			b, _ = json.Marshal(ev)
			var gotEv Event
			if err := json.Unmarshal(b, &gotEv); err != nil {
				t.Fatal(err)
			}
			if gotEv != ev {
				t.Fatalf("event round trip %+v, want %+v", gotEv, ev)
			}
		})
	}
}

// Two names that differ only in invalid bytes print the same "path" but
// different "path_b64"; inside documents (slices, embedded) too.
func TestPathB64DistinguishesInDocuments(t *testing.T) {
	doc := AssetDoc{Asset: Asset{ID: "ab"}, Locations: []Location{
		{Volume: "v", Path: "a\xff.mov", State: LocPresent},
		{Volume: "v", Path: "a\xfe.mov", State: LocRemoved, Removed: time.Unix(5, 0).UTC()},
	}}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), `"path":"a\ufffd.mov"`) != 2 {
		t.Fatalf("display paths not both lossy: %s", b)
	}
	var back AssetDoc
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Locations[0].Path != "a\xff.mov" || back.Locations[1].Path != "a\xfe.mov" || !back.Locations[1].Removed.Equal(time.Unix(5, 0)) {
		t.Fatalf("round trip %+v", back.Locations)
	}
	if strings.Contains(string(b), `"removed":"0001`) {
		t.Fatalf("zero removed time written: %s", b)
	}
}

func TestPathB64Malformed(t *testing.T) {
	for _, in := range []string{`{"path":"x","path_b64":"!!"}`, `{"path":"x","path_b64":5}`} {
		var l Location
		if err := json.Unmarshal([]byte(in), &l); err == nil {
			t.Errorf("location %s decoded: %+v", in, l)
		}
		var e Event
		if err := json.Unmarshal([]byte(in), &e); err == nil {
			t.Errorf("event %s decoded: %+v", in, e)
		}
	}
}

// TestPathsHelpersMatchEmbedding: MarshalPaths writes the bytes the
// embedded-struct form (`struct{ xJSON; PathB64 string
// "json:\"path_b64,omitempty\""}`) writes, HTML-sensitive characters
// included; UnmarshalPaths decodes into a fresh value (nothing of the
// target's old fields kept), matches the companion's key
// case-insensitively, and rejects a malformed companion.
func TestPathsHelpersMatchEmbedding(t *testing.T) {
	type two struct {
		Name   string `json:"name"`
		Folder string `json:"folder,omitempty"`
		Failed string `json:"failed_path,omitempty"`
	}
	type ref struct {
		two
		FolderB64 string `json:"folder_b64,omitempty"`
		FailedB64 string `json:"failed_path_b64,omitempty"`
	}
	for _, v := range []two{{}, {Name: "<a&b>"}, {Name: "x", Folder: "caf\xe9"}, {Folder: "ok", Failed: "\xff/<"}, {Folder: "\xfe", Failed: "\xfd"}} {
		want, err := json.Marshal(ref{v, PathB64(v.Folder), PathB64(v.Failed)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := MarshalPaths(v, PathField{"folder_b64", &v.Folder}, PathField{"failed_path_b64", &v.Failed})
		if err != nil || string(got) != string(want) {
			t.Fatalf("%+q: got %s %v, want %s", v, got, err, want)
		}
		back := two{Name: "stale", Folder: "stale", Failed: "stale"}
		if err := UnmarshalPaths(got, &back, func(x *two) []PathField {
			return []PathField{{"folder_b64", &x.Folder}, {"failed_path_b64", &x.Failed}}
		}); err != nil || back != v {
			t.Fatalf("%+q: decoded %+q, %v", v, back, err)
		}
	}
	var e Event
	if err := json.Unmarshal([]byte(`{"seq":1,"path":"a?","PATH_B64":"Yf8="}`), &e); err != nil || e.Path != "a\xff" || e.Seq != 1 {
		t.Fatalf("case-insensitive companion: %+v %v", e, err)
	}
	old := Location{Volume: "kept?", Path: "x"}
	if err := json.Unmarshal([]byte(`{"path":"y"}`), &old); err != nil || old.Volume != "" || old.Path != "y" {
		t.Fatalf("decode kept old fields: %+v %v", old, err)
	}
	for _, doc := range []string{`{"path":"a","path_b64":"!!"}`, `{"path":"a","path_b64":5}`} {
		keep := Location{Path: "unchanged"}
		if err := json.Unmarshal([]byte(doc), &keep); err == nil || keep.Path != "unchanged" {
			t.Errorf("%s: %v, %+v", doc, err, keep)
		}
	}
}
