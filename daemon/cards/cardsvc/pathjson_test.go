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
