package config

import (
	"reflect"
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

// Section is a stage's config section: its type lives in the stage's own
// package (transcode.Config, s3push.Config, diskguard.Config, ...) with
// its defaults and its own validation, whose errors name the key
// ("proxy.gpu: ...", "hub.s3.bucket: ..."). A field of Config (or of a
// plain struct field such as Hub) whose pointer is a Section is found by
// sections: adding a stage's section is adding its field, nothing more.
// An absent optional section is a nil pointer field and is skipped.
type Section interface {
	SetDefaults()
	Validate() error
}

// section is one stage section found in a Config, with its YAML key.
type section struct {
	key string
	Section
}

var sectionType = reflect.TypeFor[Section]()

// sections returns c's stage sections in field order (recursing into plain
// struct fields without methods of their own, like Hub).
func (c *Config) sections() []section {
	var out []section
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		for i := range v.NumField() {
			f := v.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			fv := v.Field(i)
			switch {
			case fv.Kind() == reflect.Pointer && fv.Type().Implements(sectionType):
				if !fv.IsNil() {
					out = append(out, section{prefix + name, fv.Interface().(Section)})
				}
			case fv.Kind() == reflect.Struct && fv.Addr().Type().Implements(sectionType):
				out = append(out, section{prefix + name, fv.Addr().Interface().(Section)})
			case fv.Kind() == reflect.Struct && fv.Type().NumMethod() == 0 && fv.Addr().Type().NumMethod() == 0:
				walk(prefix+name+".", fv)
			}
		}
	}
	walk("", reflect.ValueOf(c).Elem())
	return out
}

// setStageDefaults applies every stage section's own defaults.
func (c *Config) setStageDefaults() {
	for _, s := range c.sections() {
		s.SetDefaults()
	}
}

// validateStages runs every stage section's Validate and turns the first
// error into an *Error. Checks that span sections (cards destinations
// naming volumes, fixity) stay in this package (cards.go).
func (c *Config) validateStages() error {
	for _, s := range c.sections() {
		if err := s.Validate(); err != nil {
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
