package storage

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"
)

// TestRecordsDecodeOldForm: card and clip records written by the code
// before these types moved to storage (the card service's own types then;
// testdata/*_record_v1*.json are those bytes as it stored them) decode into
// Card and Clip with their values, and encode back to the same bytes, so
// existing catalogs read back and the API and the hub get the same JSON.
func TestRecordsDecodeOldForm(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 4, 5, 6, 123456789, time.UTC)
	for _, tc := range []struct {
		file  string
		into  any
		check func(t *testing.T, v any)
	}{
		{"card_record_v1.json", &Card{}, func(t *testing.T, v any) {
			c := v.(*Card)
			if c.Key != "uuid:be63b1ea/b7e2" || c.Folder != "2026-11-30/A\xff01" || c.FailedPath != "CONTENTS/\xfe.MXF" ||
				c.Identity.Layout != "panasonic_p2" || !c.Started.Equal(t0) || c.SafeAt == nil || len(c.Destinations) != 2 ||
				c.Destinations[1].Path != "2026-11-30/B001" || c.Destinations[0].Hashes[1] != "md5" ||
				len(c.Manifests) != 3 || c.Manifests[0].Mismatches[0].Reason != "md5 differs" || c.Skipped[0].Path != "CONTENTS/fifo" {
				t.Errorf("card decoded as %+v", c)
			}
		}},
		{"clip_record_v1.json", &Clip{}, func(t *testing.T, v any) {
			c := v.(*Clip)
			if c.Name != "0001CD" || len(c.Parts) != 2 || c.Parts[1].Path != "2026-11-30/A001/CONTENTS/CLIP/\xff.XML" || c.Parts[0].Span != 2 ||
				c.Meta == nil || c.Meta.EditUnit != "1001/30000" || len(c.Meta.AudioFiles) != 2 || c.Proxy == nil || c.Proxy.Frames != 300 ||
				len(c.Spans) != 1 || c.Spans[0].Next != "060A2B35" || !c.Incomplete || c.Cards[0].Key != c.CardKey {
				t.Errorf("clip decoded as %+v", c)
			}
		}},
		{"clip_record_v1_bare.json", &Clip{}, func(t *testing.T, v any) {
			c := v.(*Clip)
			if c.Meta == nil || c.Meta.Source != "sony_nrt" || !c.Meta.CreationDate.IsZero() || c.Proxy != nil {
				t.Errorf("clip decoded as %+v", c)
			}
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			old, err := os.ReadFile("testdata/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			old = bytes.TrimSuffix(old, []byte("\n"))
			if err := json.Unmarshal(old, tc.into); err != nil {
				t.Fatal(err)
			}
			tc.check(t, tc.into)
			got, err := json.Marshal(tc.into)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, old) {
				t.Errorf("re-encoded differs from the stored form:\n got %s\nwant %s", got, old)
			}
		})
	}
}

// TestClipMetaCamera: ClipMeta.Camera copies every field of Camera from
// the ClipMeta field of that name and type, so a field added to Camera
// cannot be left empty on assets offloaded from a card.
func TestClipMetaCamera(t *testing.T) {
	var m ClipMeta
	mv := reflect.ValueOf(&m).Elem()
	ct := reflect.TypeOf(Camera{})
	for i := 0; i < ct.NumField(); i++ {
		f := ct.Field(i)
		src := mv.FieldByName(f.Name)
		if !src.IsValid() || src.Type() != f.Type {
			t.Fatalf("Camera.%s (%s) has no ClipMeta field of that name and type to come from", f.Name, f.Type)
		}
		switch src.Kind() {
		case reflect.String:
			src.SetString("v-" + f.Name)
		case reflect.Bool:
			src.SetBool(true)
		case reflect.Struct: // time.Time
			src.Set(reflect.ValueOf(time.Date(2026, 11, 30, 4, 5, 6, 0, time.UTC)))
		default:
			t.Fatalf("Camera.%s: kind %s not covered by this test", f.Name, src.Kind())
		}
	}
	c := m.Camera()
	cv := reflect.ValueOf(c).Elem()
	for i := 0; i < ct.NumField(); i++ {
		name := ct.Field(i).Name
		if got, want := cv.Field(i).Interface(), mv.FieldByName(name).Interface(); !reflect.DeepEqual(got, want) {
			t.Errorf("Camera.%s = %v, want %v (from ClipMeta)", name, got, want)
		}
	}
	if (*ClipMeta)(nil).Camera() != nil {
		t.Error("nil ClipMeta: want a nil Camera")
	}
}
