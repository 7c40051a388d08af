package storage

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Paths are the bytes found on disk, and a POSIX name need not be UTF-8 (a
// Latin-1 name from an SMB share, a card formatted by a camera). JSON
// strings are Unicode: encoding/json writes each invalid byte as U+FFFD, so
// "a\xff.mov" and "a\xfe.mov" would both read "a\ufffd.mov". Every JSON
// form of a Location or an Event therefore carries `path_b64`, the standard
// base64 of the raw bytes, whenever the path is not valid UTF-8; decoding
// takes the path from it. `path` stays for display (lossy in that case),
// `path_b64` is authoritative when present (docs/api.md).

// PathB64 is the standard base64 of p when p is not valid UTF-8, and ""
// when it is (no path_b64 field is then written).
func PathB64(p string) string {
	if utf8.ValidString(p) {
		return ""
	}
	return base64.StdEncoding.EncodeToString([]byte(p))
}

// PathFromB64 returns the exact path a path_b64 field holds, or display
// when b64 is empty (the path was UTF-8). Other packages' JSON types that
// carry paths (clip parts, verify lines) use PathB64 and PathFromB64 the
// same way Location and Event do.
func PathFromB64(display, b64 string) (string, error) {
	if b64 == "" {
		return display, nil
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", fmt.Errorf("path_b64 of %q: %w", display, err)
	}
	return string(raw), nil
}

// PathField is one path field of a JSON object and the key of its _b64
// companion: {"path_b64", &x.Path}, {"folder_b64", &x.Folder}.
type PathField struct {
	Key  string
	Path *string
}

// MarshalPaths encodes v, a struct type without a MarshalJSON of its own
// (the usual `type xJSON X` alias), as a JSON object, adding each field's
// _b64 companion when its path is not valid UTF-8. The companions come
// after v's own fields, in the order given. Every JSON type that carries
// paths (Location, Event, clip parts, card records, verify lines) writes
// them through this one function.
func MarshalPaths(v any, fields ...PathField) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var extra []byte
	for _, f := range fields {
		if s := PathB64(*f.Path); s != "" {
			extra = fmt.Appendf(extra, ",%q:%q", f.Key, s) // keys and base64 need no JSON escaping
		}
	}
	if len(extra) == 0 {
		return b, nil
	}
	if len(b) < 2 || b[len(b)-1] != '}' {
		return nil, fmt.Errorf("path fields of a %T: not a JSON object", v)
	}
	if len(b) == 2 { // {}
		extra = extra[1:]
	}
	return append(append(b[:len(b)-1], extra...), '}'), nil
}

// UnmarshalPaths decodes the JSON object b into a fresh T (a type without
// an UnmarshalJSON of its own) and takes each path named by fields (the
// fields of that fresh T) from its _b64 companion when present, exact
// bytes. *dst is set only on success.
func UnmarshalPaths[T any](b []byte, dst *T, fields func(*T) []PathField) error {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if bytes.Contains(b, []byte("_b64\"")) || bytes.Contains(b, []byte("_B64")) { // cheap: most paths are UTF-8
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(b, &raw); err != nil {
			return err
		}
		for _, f := range fields(&v) {
			var b64 string
			for k, r := range raw { // keys match case-insensitively, as struct fields do
				if strings.EqualFold(k, f.Key) {
					if err := json.Unmarshal(r, &b64); err != nil {
						return fmt.Errorf("%s: %w", f.Key, err)
					}
				}
			}
			p, err := PathFromB64(*f.Path, b64)
			if err != nil {
				return err
			}
			*f.Path = p
		}
	}
	*dst = v
	return nil
}

// locationJSON is Location without its methods.
type locationJSON Location

// MarshalJSON writes the location with path_b64 when its path is not valid
// UTF-8.
func (l Location) MarshalJSON() ([]byte, error) {
	return MarshalPaths(locationJSON(l), PathField{"path_b64", &l.Path})
}

// UnmarshalJSON reads a location, taking the path's exact bytes from
// path_b64 when present.
func (l *Location) UnmarshalJSON(b []byte) error {
	return UnmarshalPaths(b, (*locationJSON)(l), func(v *locationJSON) []PathField { return []PathField{{"path_b64", &v.Path}} })
}

// eventJSON is Event without its methods.
type eventJSON Event

// MarshalJSON writes the event with path_b64 when its path is not valid
// UTF-8.
func (e Event) MarshalJSON() ([]byte, error) {
	return MarshalPaths(eventJSON(e), PathField{"path_b64", &e.Path})
}

// UnmarshalJSON reads an event, taking the path's exact bytes from path_b64
// when present.
func (e *Event) UnmarshalJSON(b []byte) error {
	return UnmarshalPaths(b, (*eventJSON)(e), func(v *eventJSON) []PathField { return []PathField{{"path_b64", &v.Path}} })
}
