package cardsvc

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPathB64ClipPartsAndLines(t *testing.T) {
	for _, path := range []string{"CARD/DCIM/GX01\xff.MP4", "CARD/DCIM/GX01\xfe.MP4", "CARD/ok.MP4"} {
		b64 := base64.StdEncoding.EncodeToString([]byte(path))
		wantB64 := !utf8.ValidString(path)
		for _, v := range []any{ClipPart{Role: "video", Path: path, AssetID: "ab"}, Line{Type: "corrupt", Volume: "v", Path: path}} {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(b), `"path_b64":"`+b64+`"`); got != wantB64 {
				t.Fatalf("%T %q: path_b64 written=%v, want %v: %s", v, path, got, wantB64, b)
			}
			switch v.(type) {
			case ClipPart:
				var back ClipPart
				if err := json.Unmarshal(b, &back); err != nil || back.Path != path || back.Role != "video" {
					t.Fatalf("clip part round trip %+v %v", back, err)
				}
			case Line:
				var back Line
				if err := json.Unmarshal(b, &back); err != nil || back.Path != path || back.Type != "corrupt" {
					t.Fatalf("line round trip %+v %v", back, err)
				}
			}
		}
	}
	// Inside a clip document (as stored in the catalog and served).
	doc := ClipDoc{ID: "c", Parts: []ClipPart{{Path: "a\xff"}, {Path: "a\xfe"}}}
	b, _ := json.Marshal(doc)
	var back ClipDoc
	if err := json.Unmarshal(b, &back); err != nil || back.Parts[0].Path != "a\xff" || back.Parts[1].Path != "a\xfe" {
		t.Fatalf("clip doc round trip %+v %v: %s", back.Parts, err, b)
	}
}

func TestPathB64CardRecordsAndStatus(t *testing.T) {
	rec := Record{Key: "k", Label: "CARD\xe9", Folder: "2026-11-23/CARD\xe9", FailedPath: "DCIM/x\xff.MP4", Status: "failed"}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{`"folder_b64":"`, `"failed_path_b64":"`} {
		if !strings.Contains(string(b), f) {
			t.Fatalf("record JSON lacks %s: %s", f, b)
		}
	}
	var back Record
	if err := json.Unmarshal(b, &back); err != nil || back.Folder != rec.Folder || back.FailedPath != rec.FailedPath || back.Status != "failed" {
		t.Fatalf("record round trip %+v %v", back, err)
	}
	st := CardStatus{Mount: "/media/c", State: StateFailed, Dest: "footage/CARD\xe9", File: "a\xfe", FailedPath: "a\xff"}
	b, _ = json.Marshal(st)
	var bst CardStatus
	if err := json.Unmarshal(b, &bst); err != nil || bst.Dest != st.Dest || bst.File != st.File || bst.FailedPath != st.FailedPath || bst.State != StateFailed {
		t.Fatalf("status round trip %+v %v: %s", bst, err, b)
	}
	// UTF-8 names: no _b64 field at all.
	b, _ = json.Marshal(Record{Folder: "2026-11-23/A001", FailedPath: "DCIM/ok.MP4"})
	if strings.Contains(string(b), "_b64") {
		t.Fatalf("_b64 on UTF-8 names: %s", b)
	}
}
