package s3push

import (
	"bytes"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The documented hub.s3 section decodes strictly into Config.
func TestConfigYAML(t *testing.T) {
	doc := `
endpoint: https://s3.eu-west-1.amazonaws.com
region: eu-west-1
bucket: studio-hub
prefix: edge
path_style: false
part_size: 16777216
concurrency: 4
retry_max: 2m
bandwidth:
  - {from: "08:00", to: "19:00", rate: "20MiB/s"}
  - {from: "22:00", to: "06:00", rate: "80Mbit/s"}
`
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader([]byte(doc)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("decode: %v", err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if c.RetryMax != 2*time.Minute || len(c.Bandwidth) != 2 || c.Bandwidth[1].Rate != "80Mbit/s" || c.RetryMin != DefaultRetryMin {
		t.Errorf("decoded %+v", c)
	}
}
