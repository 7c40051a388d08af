package cardsvc

import (
	"fmt"

	"github.com/ingestd/ingestd/daemon/cards"
)

// MaxManifestsShown caps the checksum manifests listed in a card's record,
// status and event.
const MaxManifestsShown = 50

// capManifests keeps at most MaxManifestsShown, those that do not match
// first (in their order), then those that do.
func capManifests(ms []cards.ManifestCheck) []cards.ManifestCheck {
	if len(ms) <= MaxManifestsShown {
		return ms
	}
	out := make([]cards.ManifestCheck, 0, MaxManifestsShown)
	for _, ok := range []bool{false, true} {
		for _, m := range ms {
			if m.OK == ok && len(out) < MaxManifestsShown {
				out = append(out, m)
			}
		}
	}
	return out
}

// manifestNote is what the status message adds when checksum manifests
// on the card do not match the copy ("" when all match or there are none).
func manifestNote(ms []cards.ManifestCheck) string {
	bad := 0
	for _, m := range ms {
		if !m.OK {
			bad++
		}
	}
	switch {
	case bad == 0:
		return ""
	case len(ms) < MaxManifestsShown:
		return fmt.Sprintf("; %d of %d checksum manifests on the card do not match (see manifests)", bad, len(ms))
	case bad == len(ms):
		return fmt.Sprintf("; at least %d checksum manifests on the card do not match (the first listed in manifests)", bad)
	default:
		return fmt.Sprintf("; %d checksum manifests on the card do not match (see manifests)", bad)
	}
}
