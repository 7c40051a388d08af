package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/storage"
)

// TestCardClipRecords: card and clip records stored by the code before
// the typed accessors (raw JSON under the card service's state keys;
// storage/testdata holds those bytes) read back through Card, Cards, Clip
// and Clips after a reopen, and PutCard/PutClip store the same bytes again.
func TestCardClipRecords(t *testing.T) {
	c, dir := newCat(t, Options{})
	oldCard := recordGolden(t, "card_record_v1.json")
	oldClip := recordGolden(t, "clip_record_v1.json")
	var card storage.Card
	var clip storage.Clip
	if err := json.Unmarshal(oldCard, &card); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(oldClip, &clip); err != nil {
		t.Fatal(err)
	}
	// As the card service stored them until now.
	if err := c.PutState("cards/card/"+card.Key, json.RawMessage(oldCard)); err != nil {
		t.Fatal(err)
	}
	if err := c.PutState("clips/"+clip.ID, json.RawMessage(oldClip)); err != nil {
		t.Fatal(err)
	}
	second := storage.Clip{ID: "ffffffffffffffffffffffffffffffff", Name: "C0002", Parts: []storage.ClipPart{{Role: "video", Path: "x/\xff.MP4", AssetID: "ab"}}}
	if err := c.PutClip(second); err != nil {
		t.Fatal(err)
	}
	// Other card-service state under neighbouring keys is not a record.
	if err := c.PutState("cards/cardof/ab", card.Key); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c = open(t, dir, Options{})

	got, err := c.Card(card.Key)
	if err != nil || !reflect.DeepEqual(got, card) {
		t.Fatalf("Card = %+v, %v; want %+v", got, err, card)
	}
	var cards []storage.Card
	if err := c.Cards(func(r storage.Card) error { cards = append(cards, r); return nil }); err != nil || len(cards) != 1 || cards[0].Key != card.Key {
		t.Fatalf("Cards = %+v, %v", cards, err)
	}
	gotClip, err := c.Clip(clip.ID)
	if err != nil || !reflect.DeepEqual(gotClip, clip) {
		t.Fatalf("Clip = %+v, %v; want %+v", gotClip, err, clip)
	}
	var ids []string
	if err := c.Clips("", func(r storage.Clip) error { ids = append(ids, r.ID); return nil }); err != nil || !reflect.DeepEqual(ids, []string{clip.ID, second.ID}) {
		t.Fatalf("Clips(\"\") = %v, %v", ids, err)
	}
	ids = nil
	if err := c.Clips(clip.ID, func(r storage.Clip) error { ids = append(ids, r.ID); return nil }); err != nil || !reflect.DeepEqual(ids, []string{second.ID}) {
		t.Fatalf("Clips(after first) = %v, %v", ids, err)
	}
	if p, err := c.Clip(second.ID); err != nil || p.Parts[0].Path != "x/\xff.MP4" {
		t.Fatalf("Clip(second) = %+v, %v: want its exact non-UTF-8 path back", p, err)
	}
	stop := errors.New("stop")
	if err := c.Clips("", func(storage.Clip) error { return stop }); err != stop {
		t.Fatalf("Clips: fn's error = %v, want it returned as is", err)
	}

	// Written again through the typed accessors: the same bytes.
	if err := c.PutCard(got); err != nil {
		t.Fatal(err)
	}
	if err := c.PutClip(gotClip); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string][]byte{"cards/card/" + card.Key: oldCard, "clips/" + clip.ID: oldClip} {
		var raw json.RawMessage
		if err := c.GetState(key, &raw); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, want) {
			t.Errorf("%s stored as\n%s\nwant the old bytes\n%s", key, raw, want)
		}
	}

	if _, err := c.Card("nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Card(missing) = %v, want ErrNotFound", err)
	}
	if _, err := c.Clip("00000000000000000000000000000000"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Clip(missing) = %v, want ErrNotFound", err)
	}
	if err := c.PutCard(storage.Card{}); err == nil {
		t.Error("PutCard without a key: no error")
	}
	if err := c.PutClip(storage.Clip{}); err == nil {
		t.Error("PutClip without an id: no error")
	}
}

func recordGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b, []byte("\n"))
}

// TestCardsPassOverBadRecord: a card record that does not decode is named
// in the error but does not hide the records after it (the card service's
// retry loop lists them all to finish their cascades).
func TestCardsPassOverBadRecord(t *testing.T) {
	c := open(t, t.TempDir(), Options{})
	defer c.Close()
	for _, k := range []string{"a", "c"} {
		if err := c.PutCard(storage.Card{Key: k, Status: "partial"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.PutState("cards/card/b", json.RawMessage(`{"key": 7}`)); err != nil {
		t.Fatal(err)
	}
	var keys []string
	err := c.Cards(func(r storage.Card) error { keys = append(keys, r.Key); return nil })
	if !reflect.DeepEqual(keys, []string{"a", "c"}) {
		t.Errorf("listed %v, want [a c]", keys)
	}
	if err == nil || !strings.Contains(err.Error(), "cards/card/b") {
		t.Errorf("error %v, want one naming cards/card/b", err)
	}
}
