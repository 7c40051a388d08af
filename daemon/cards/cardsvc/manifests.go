package cardsvc

import (
	"fmt"

	"github.com/ingestd/ingestd/daemon/cards"
)

// MaxManifestsShown caps the checksum manifests listed in a card's record,
// status and event.
const MaxManifestsShown = 50

func capManifests(ms []cards.ManifestCheck) []cards.ManifestCheck {
	if len(ms) > MaxManifestsShown {
		return ms[:MaxManifestsShown]
	}
	return ms
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
	if bad == 0 {
		return ""
	}
	return fmt.Sprintf("; %d of %d checksum manifests on the card do not match (see manifests)", bad, len(ms))
}
