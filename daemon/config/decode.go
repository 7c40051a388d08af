package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as a Go duration string ("5s", "1m30s").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML parses a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("invalid duration: expected a string like \"5s\"")
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("invalid duration %q", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// Parse strictly decodes a YAML document into a Config without defaults or
// validation. Every error is an *Error naming the key (and line): unknown
// keys, duplicate keys, wrong types, bad durations.
func Parse(data []byte) (*Config, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, &Error{Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	// A second document (after "---") would be ignored silently: a
	// config pasted twice, or two merged by hand, must not half-apply.
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		return nil, &Error{Key: "(document)", Line: more.Line, Msg: "a second YAML document (after ---): one config per file"}
	} else if !errors.Is(err, io.EOF) {
		return nil, &Error{Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	c := &Config{}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return c, nil // empty file: all defaults
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return c, nil
	}
	if err := decodeInto(root, reflect.ValueOf(c).Elem(), ""); err != nil {
		return nil, err
	}
	return c, nil
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// decodeInto decodes n into v, recursing through structs and slices so
// that errors carry the dotted key path.
func decodeInto(n *yaml.Node, v reflect.Value, key string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			return &Error{Key: key, Line: n.Line, Msg: err.Error()}
		}
		return nil
	}
	if v.Type() == durationType {
		if n.Kind != yaml.ScalarNode {
			return &Error{Key: key, Line: n.Line, Msg: "invalid duration: expected a string like \"5s\""}
		}
		d, err := time.ParseDuration(n.Value)
		if err != nil {
			return &Error{Key: key, Line: n.Line, Msg: fmt.Sprintf("invalid duration %q", n.Value)}
		}
		v.SetInt(int64(d))
		return nil
	}
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshalerType) {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			return &Error{Key: key, Line: n.Line, Msg: fmt.Sprintf("invalid value %q: %s", n.Value, strings.TrimPrefix(err.Error(), "yaml: "))}
		}
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			v.SetZero()
			return nil
		}
		p := reflect.New(v.Type().Elem())
		if err := decodeInto(n, p.Elem(), key); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return &Error{Key: key, Line: n.Line, Msg: "expected a mapping of keys"}
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			kv := reflect.New(v.Type().Key()).Elem()
			if err := decodeInto(k, kv, key); err != nil {
				return err
			}
			if m.MapIndex(kv).IsValid() {
				return &Error{Key: join(key, k.Value), Line: k.Line, Msg: "duplicate key"}
			}
			ev := reflect.New(v.Type().Elem()).Elem()
			if err := decodeInto(val, ev, join(key, k.Value)); err != nil {
				return err
			}
			m.SetMapIndex(kv, ev)
		}
		v.Set(m)
		return nil
	case reflect.Interface:
		if err := n.Decode(v.Addr().Interface()); err != nil {
			return &Error{Key: key, Line: n.Line, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
		}
		return nil
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return &Error{Key: orRoot(key), Line: n.Line, Msg: "expected a mapping of keys"}
		}
		fields := yamlFields(v.Type())
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			sub := join(key, k.Value)
			if line, dup := seen[k.Value]; dup {
				return &Error{Key: sub, Line: k.Line, Msg: fmt.Sprintf("duplicate key (first at line %d)", line)}
			}
			seen[k.Value] = k.Line
			idx, ok := fields[k.Value]
			if !ok {
				return &Error{Line: k.Line, Msg: fmt.Sprintf("unknown key %q", sub)}
			}
			if err := decodeInto(val, v.FieldByIndex(idx), sub); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			v.SetLen(0)
			return nil
		}
		if n.Kind != yaml.SequenceNode {
			return &Error{Key: key, Line: n.Line, Msg: "expected a list"}
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if err := decodeInto(item, s.Index(i), fmt.Sprintf("%s[%d]", key, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	default:
		if n.Kind != yaml.ScalarNode {
			return &Error{Key: key, Line: n.Line, Msg: fmt.Sprintf("expected %s", kindName(v.Kind()))}
		}
		// yaml.v3 truncates a float into an int field (2.5 -> 2): an
		// integer key takes only an integer.
		switch v.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			if n.ShortTag() != "!!int" {
				return &Error{Key: key, Line: n.Line, Msg: fmt.Sprintf("expected %s, got %q", kindName(v.Kind()), n.Value)}
			}
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			return &Error{Key: key, Line: n.Line, Msg: fmt.Sprintf("expected %s, got %q", kindName(v.Kind()), n.Value)}
		}
		return nil
	}
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32:
		return "an integer"
	case reflect.Bool:
		return "a boolean"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a " + k.String()
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// yamlFields maps yaml key names to field index paths; fields tagged
// ",inline" contribute their own keys.
func yamlFields(t reflect.Type) map[string][]int {
	m := map[string][]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if opts == "inline" && f.Type.Kind() == reflect.Struct {
			for k, sub := range yamlFields(f.Type) {
				m[k] = append([]int{i}, sub...)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = []int{i}
	}
	return m
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

func orRoot(k string) string {
	if k == "" {
		return "(document)"
	}
	return k
}
