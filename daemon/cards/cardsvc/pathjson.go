package cardsvc

import (
	"encoding/json"

	"github.com/ingestd/ingestd/storage"
)

// Paths of clip parts and verify lines are names found on cards and
// volumes: bytes that need not be UTF-8. Like storage.Location, their JSON
// carries path_b64 (the exact bytes, standard base64) when the path is not
// valid UTF-8, and decoding takes the path from it (docs/api.md, "Paths
// that are not UTF-8").

type clipPartJSON ClipPart

// MarshalJSON writes the part with path_b64 when its path is not UTF-8.
func (p ClipPart) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		clipPartJSON
		PathB64 string `json:"path_b64,omitempty"`
	}{clipPartJSON(p), storage.PathB64(p.Path)})
}

// UnmarshalJSON reads a part, its exact path from path_b64 when present.
func (p *ClipPart) UnmarshalJSON(b []byte) error {
	var v struct {
		clipPartJSON
		PathB64 string `json:"path_b64"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	path, err := storage.PathFromB64(v.Path, v.PathB64)
	if err != nil {
		return err
	}
	*p = ClipPart(v.clipPartJSON)
	p.Path = path
	return nil
}

type lineJSON Line

// MarshalJSON writes the line with path_b64 when its path is not UTF-8.
func (l Line) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		lineJSON
		PathB64 string `json:"path_b64,omitempty"`
	}{lineJSON(l), storage.PathB64(l.Path)})
}

// UnmarshalJSON reads a line, its exact path from path_b64 when present.
func (l *Line) UnmarshalJSON(b []byte) error {
	var v struct {
		lineJSON
		PathB64 string `json:"path_b64"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	path, err := storage.PathFromB64(v.Path, v.PathB64)
	if err != nil {
		return err
	}
	*l = Line(v.lineJSON)
	l.Path = path
	return nil
}
