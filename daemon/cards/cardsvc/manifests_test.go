package cardsvc

import (
	"testing"

	"github.com/ingestd/ingestd/daemon/cards"
)

func TestManifestNote(t *testing.T) {
	ok := cards.ManifestCheck{File: "A.md5", OK: true}
	bad := cards.ManifestCheck{File: "B.xxhash"}
	for _, tc := range []struct {
		name string
		ms   []cards.ManifestCheck
		want string
	}{
		{"none", nil, ""},
		{"all match", []cards.ManifestCheck{ok, ok}, ""},
		{"one of two", []cards.ManifestCheck{ok, bad}, "; 1 of 2 checksum manifests on the card do not match (see manifests)"},
		{"all bad", []cards.ManifestCheck{bad}, "; 1 of 1 checksum manifests on the card do not match (see manifests)"},
	} {
		if got := manifestNote(tc.ms); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	many := make([]cards.ManifestCheck, MaxManifestsShown+5)
	if got := len(capManifests(many)); got != MaxManifestsShown {
		t.Errorf("capManifests kept %d, want %d", got, MaxManifestsShown)
	}
}
