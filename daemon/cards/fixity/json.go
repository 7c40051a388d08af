package fixity

import (
	"encoding/json"

	"github.com/ingestd/ingestd/storage"
)

// A verify line's path is a name found on a volume: bytes that need not be
// UTF-8. Like storage.Location, its JSON carries path_b64 (the exact bytes,
// standard base64) when the path is not valid UTF-8, and decoding takes the
// path from it (docs/api.md, "Paths that are not UTF-8").

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
