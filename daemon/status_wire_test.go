package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ingestd/ingestd/analysis"
	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/daemon/cards/cardsvc"
	"github.com/ingestd/ingestd/daemon/diskguard"
	"github.com/ingestd/ingestd/sync/s3push"
	"github.com/ingestd/ingestd/sync/webhook"
	"github.com/ingestd/ingestd/transcode"
)

// fill sets every exported field reachable from v (a pointer) to a value
// that is not zero (one element in each slice and map), so that a field
// a converter or a wire type drops shows up in the JSON.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2026, 11, 30, 4, 5, 6, *n, time.UTC)))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), n)
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), n)
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, n)
		fill(e, n)
		v.SetMapIndex(k, e)
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(*n) + 0.5)
	}
}

func filled[T any]() T {
	var v T
	n := 0
	fill(reflect.ValueOf(&v).Elem(), &n)
	return v
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return b
}

// TestSectionsLoseNoField converts a stage status with every field set
// into its wire section and compares the JSON: the API serves exactly what
// the stage reported (no field lost or renamed on the way).
func TestSectionsLoseNoField(t *testing.T) {
	tr := filled[transcode.Status]()
	s3 := filled[s3push.Status]()
	hook := filled[webhook.Status]()
	cards := filled[cardsvc.Status]()
	disk := filled[diskguard.Status]()
	an := filled[analysis.Status]()
	paused := []string{"ingest"}
	for _, c := range []struct {
		name       string
		stage, out any
	}{
		{"proxy", struct {
			transcode.Status
			Error string `json:"error,omitempty"`
		}{tr, "no ffmpeg"}, proxySection(&tr, "no ffmpeg")},
		{"sync", struct {
			S3      *s3push.Status  `json:"s3,omitempty"`
			Webhook *webhook.Status `json:"webhook,omitempty"`
		}{&s3, &hook}, syncSection(&s3, &hook)},
		{"cards", cards, cardsSection(cards)},
		{"disk", struct {
			diskguard.Status
			Paused []string `json:"paused"`
		}{disk, paused}, diskSection(disk, paused)},
		{"analysis", an, analysisSection(an)},
	} {
		if a, b := mustJSON(t, c.stage), mustJSON(t, c.out); !bytes.Equal(a, b) {
			t.Errorf("%s section differs from the stage's status:\nstage: %s\nwire:  %s", c.name, a, b)
		}
	}
	// Empty values keep their JSON too ([] stays [], absent stays absent).
	var zero transcode.Status
	if a, b := mustJSON(t, proxySection(nil, "x")), mustJSON(t, proxySection(&transcode.Status{Lanes: []transcode.LaneStatus{}, Running: []transcode.JobStatus{}, Done: map[string]int{}}, "x")); !bytes.Equal(a, b) {
		t.Errorf("proxy section of a stage that did not start: %s, want %s", a, b)
	}
	if a, b := mustJSON(t, zero), mustJSON(t, proxySection(&zero, "").TranscodeStatus); !bytes.Equal(a, b) {
		t.Errorf("zero transcode status: %s, want %s", b, a)
	}
	if syncSection(nil, nil) != nil {
		t.Error("sync section without hub targets is not nil")
	}
	for _, c := range []struct{ stage, out any }{
		{cardsvc.Status{}, cardsSection(cardsvc.Status{})},
		{cardsvc.Status{Cards: []cardsvc.CardStatus{{}}}, cardsSection(cardsvc.Status{Cards: []cardsvc.CardStatus{{}}})},
		{analysis.Status{}, analysisSection(analysis.Status{})},
	} {
		if a, b := mustJSON(t, c.stage), mustJSON(t, c.out); !bytes.Equal(a, b) {
			t.Errorf("empty %T: wire %s, want %s", c.stage, b, a)
		}
	}
}

// TestWireDocumentsMatchServer decodes what the servers of the other
// documents write (every field set) into their wire types and encodes
// them again: a client reading the wire type loses nothing.
func TestWireDocumentsMatchServer(t *testing.T) {
	check := func(name string, server any, client any) {
		t.Helper()
		a := mustJSON(t, server)
		if err := json.Unmarshal(a, client); err != nil {
			t.Fatalf("%s: decode into %T: %v", name, client, err)
		}
		if b := mustJSON(t, reflect.ValueOf(client).Elem().Interface()); !bytes.Equal(a, b) {
			t.Errorf("%s: %T and the server's JSON differ:\nserver: %s\nwire:   %s", name, client, a, b)
		}
	}
	check("GET /v1/cards", filled[cardsvc.CardsDoc](), &wire.CardsPage{})
	check("GET /v1/clips", filled[cardsvc.ClipsDoc](), &wire.ClipsPage{})
	check("GET /v1/clips/{id}", filled[cardsvc.ClipDoc](), &wire.Clip{})
	check("GET /v1/cards/{id}/report.json", filled[cardsvc.Report](), &wire.CardReport{})
	check("POST /v1/verify line", filled[cardsvc.Line](), &wire.VerifyLine{})
	check("cards status", filled[cardsvc.Status](), &wire.CardsStatus{})
}
