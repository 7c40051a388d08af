package storage

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
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

// locationJSON is Location without its methods.
type locationJSON Location

// MarshalJSON writes the location with path_b64 when its path is not valid
// UTF-8.
func (l Location) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		locationJSON
		PathB64 string `json:"path_b64,omitempty"`
	}{locationJSON(l), PathB64(l.Path)})
}

// UnmarshalJSON reads a location, taking the path's exact bytes from
// path_b64 when present.
func (l *Location) UnmarshalJSON(b []byte) error {
	var v struct {
		locationJSON
		PathB64 string `json:"path_b64"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	p, err := PathFromB64(v.Path, v.PathB64)
	if err != nil {
		return err
	}
	*l = Location(v.locationJSON)
	l.Path = p
	return nil
}

// eventJSON is Event without its methods.
type eventJSON Event

// MarshalJSON writes the event with path_b64 when its path is not valid
// UTF-8.
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		eventJSON
		PathB64 string `json:"path_b64,omitempty"`
	}{eventJSON(e), PathB64(e.Path)})
}

// UnmarshalJSON reads an event, taking the path's exact bytes from path_b64
// when present.
func (e *Event) UnmarshalJSON(b []byte) error {
	var v struct {
		eventJSON
		PathB64 string `json:"path_b64"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	p, err := PathFromB64(v.Path, v.PathB64)
	if err != nil {
		return err
	}
	*e = Event(v.eventJSON)
	e.Path = p
	return nil
}
