package config

import (
	"strings"

	"github.com/ingestd/ingestd/sync/s3push"
	"github.com/ingestd/ingestd/sync/webhook"
)

// HubConfig is the `hub:` section: where proxies and metadata go. Each
// target is optional; a nil (absent) section disables that target.
type HubConfig struct {
	S3      *s3push.Config  `yaml:"s3"`
	Webhook *webhook.Config `yaml:"webhook"`
}

// setStageDefaults applies the proxy and hub sections' own defaults.
func (c *Config) setStageDefaults() {
	c.Proxy.SetDefaults()
	c.Sequences.SetDefaults()
	c.Analysis.SetDefaults()
	if c.Hub.S3 != nil {
		c.Hub.S3.SetDefaults()
	}
	if c.Hub.Webhook != nil {
		c.Hub.Webhook.SetDefaults()
	}
}

// validateStages delegates to the stage packages' Validate, whose errors
// already name the key ("proxy.gpu: ...", "hub.s3.bucket: ..."), and turns
// the first one into an *Error.
func (c *Config) validateStages() error {
	if err := c.Proxy.Validate(); err != nil {
		return stageErr(err)
	}
	if err := c.Sequences.Validate(); err != nil {
		return stageErr(err)
	}
	if err := c.Analysis.Validate(); err != nil {
		return stageErr(err)
	}
	if c.Hub.S3 != nil {
		if err := c.Hub.S3.Validate(); err != nil {
			return stageErr(err)
		}
	}
	if c.Hub.Webhook != nil {
		if err := c.Hub.Webhook.Validate(); err != nil {
			return stageErr(err)
		}
	}
	return nil
}

// stageErr converts "key: msg" (first line of a joined error) to *Error.
func stageErr(err error) *Error {
	s, _, _ := strings.Cut(err.Error(), "\n")
	if k, m, ok := strings.Cut(s, ": "); ok && !strings.ContainsAny(k, " \t") {
		return &Error{Key: k, Msg: m}
	}
	return &Error{Msg: s}
}
