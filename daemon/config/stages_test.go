package config

import (
	"slices"
	"testing"

	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/sync/s3push"
	"github.com/ingestd/ingestd/sync/webhook"
)

// TestSectionsFound: the stage sections are found from Config's fields
// alone (a new stage adds its field; nothing calls its SetDefaults or
// Validate by name), in field order, an absent optional one skipped.
func TestSectionsFound(t *testing.T) {
	keys := func(c *Config) []string {
		var out []string
		for _, s := range c.sections() {
			out = append(out, s.key)
		}
		return out
	}
	var c Config
	if got, want := keys(&c), []string{"proxy", "sequences", "analysis", "disk"}; !slices.Equal(got, want) {
		t.Errorf("sections of an empty config %v, want %v", got, want)
	}
	c.Hub.S3, c.Hub.Webhook, c.Cards = &s3push.Config{}, &webhook.Config{}, &cards.Config{}
	if got, want := keys(&c), []string{"proxy", "sequences", "analysis", "hub.s3", "hub.webhook", "cards", "disk"}; !slices.Equal(got, want) {
		t.Errorf("sections %v, want %v", got, want)
	}
}
