package s3push

import (
	"strings"
	"testing"
	"time"
)

func TestValidateEndpointAndTimeouts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mod     func(*Config)
		wantKey string // "" = valid
	}{
		{"defaults", func(c *Config) {}, ""},
		{"endpoint", func(c *Config) { c.Endpoint = "https://minio.example:9000" }, ""},
		{"userinfo", func(c *Config) { c.Endpoint = "http://AKIA:SECRETPW@minio:9000" }, "hub.s3.endpoint"},
		{"user only", func(c *Config) { c.Endpoint = "http://SECRETPW@minio:9000" }, "hub.s3.endpoint"},
		{"query", func(c *Config) { c.Endpoint = "http://minio:9000/?X-Amz-Security-Token=SECRETPW" }, "hub.s3.endpoint"},
		{"unparseable", func(c *Config) { c.Endpoint = "http://u:SECRETPW@minio:9000/%zz" }, "hub.s3.endpoint"},
		{"scheme", func(c *Config) { c.Endpoint = "ftp://minio" }, "hub.s3.endpoint"},
		{"timeout small", func(c *Config) { c.Timeout = time.Millisecond }, "hub.s3.timeout"},
		{"timeout big", func(c *Config) { c.Timeout = 2 * time.Hour }, "hub.s3.timeout"},
		{"stall negative", func(c *Config) { c.StallTimeout = -time.Second }, "hub.s3.stall_timeout"},
		{"stall ok", func(c *Config) { c.StallTimeout = 5 * time.Second }, ""},
		{"rate too slow for stall", func(c *Config) {
			c.StallTimeout = 10 * time.Second
			c.Bandwidth = []Window{{From: "00:00", To: "00:00", Rate: "1KiB/s"}}
		}, "hub.s3.bandwidth[0].rate"},
		{"rate fine", func(c *Config) {
			c.Bandwidth = []Window{{From: "00:00", To: "00:00", Rate: "100KiB/s"}}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Bucket: "studio-hub"}
			tc.mod(&c)
			c.SetDefaults()
			err := c.Validate()
			if tc.wantKey == "" {
				if err != nil {
					t.Fatalf("want valid: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantKey+":") {
				t.Fatalf("error %v, want one naming %s", err, tc.wantKey)
			}
			if strings.Contains(err.Error(), "SECRETPW") {
				t.Errorf("the error echoes the secret: %v", err)
			}
		})
	}
	if c := (Config{}); true {
		c.SetDefaults()
		if c.Timeout != DefaultTimeout || c.StallTimeout != DefaultStallTimeout {
			t.Errorf("defaults: %s %s", c.Timeout, c.StallTimeout)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := func() Config {
		c := Config{Endpoint: "http://127.0.0.1:9000", Bucket: "studio-hub", Prefix: "edge"}
		c.SetDefaults()
		return c
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"ok", func(c *Config) {}, ""},
		{"no bucket", func(c *Config) { c.Bucket = "" }, "hub.s3.bucket: required"},
		{"bad bucket", func(c *Config) { c.Bucket = "Studio_Hub" }, "hub.s3.bucket: invalid"},
		{"bad endpoint", func(c *Config) { c.Endpoint = "s3.example.com" }, "hub.s3.endpoint: invalid"},
		{"small part", func(c *Config) { c.PartSize = 1 << 20 }, "hub.s3.part_size"},
		{"zero concurrency", func(c *Config) { c.Concurrency = -1 }, "hub.s3.concurrency"},
		{"bad window time", func(c *Config) { c.Bandwidth = []Window{{From: "8am", To: "19:00", Rate: "1MiB/s"}} }, "hub.s3.bandwidth[0].from"},
		{"bad window rate", func(c *Config) {
			c.Bandwidth = []Window{{From: "08:00", To: "19:00", Rate: "1MiB/s"}, {From: "20:00", To: "21:00", Rate: "lots"}}
		}, "hub.s3.bandwidth[1].rate"},
		{"bad prefix", func(c *Config) { c.Prefix = "a/../b" }, "hub.s3.prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mod(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
	var c Config
	c.SetDefaults()
	if c.PartSize != 16<<20 || c.Concurrency != 4 || c.Region == "" {
		t.Errorf("defaults: %+v", c)
	}
}
