package cardsvc

import (
	"encoding/json"

	"github.com/ingestd/ingestd/storage"
)

// Paths of clip parts are names found on cards and
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

// Card records and statuses name paths in other fields: each such field F
// gets F_b64 on the same terms (folder_b64, failed_path_b64, file_b64,
// dest_b64).

type recordJSON Record

// MarshalJSON writes the record with folder_b64 and failed_path_b64 when
// those paths are not UTF-8.
func (r Record) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		recordJSON
		FolderB64     string `json:"folder_b64,omitempty"`
		FailedPathB64 string `json:"failed_path_b64,omitempty"`
	}{recordJSON(r), storage.PathB64(r.Folder), storage.PathB64(r.FailedPath)})
}

// UnmarshalJSON reads a record, its exact paths from the _b64 fields.
func (r *Record) UnmarshalJSON(b []byte) error {
	var v struct {
		recordJSON
		FolderB64     string `json:"folder_b64"`
		FailedPathB64 string `json:"failed_path_b64"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	folder, err := storage.PathFromB64(v.Folder, v.FolderB64)
	if err != nil {
		return err
	}
	failed, err := storage.PathFromB64(v.FailedPath, v.FailedPathB64)
	if err != nil {
		return err
	}
	*r = Record(v.recordJSON)
	r.Folder, r.FailedPath = folder, failed
	return nil
}

type cardStatusJSON CardStatus

// MarshalJSON writes the status with dest_b64, file_b64 and
// failed_path_b64 when those paths are not UTF-8.
func (c CardStatus) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		cardStatusJSON
		DestB64       string `json:"dest_b64,omitempty"`
		FileB64       string `json:"file_b64,omitempty"`
		FailedPathB64 string `json:"failed_path_b64,omitempty"`
	}{cardStatusJSON(c), storage.PathB64(c.Dest), storage.PathB64(c.File), storage.PathB64(c.FailedPath)})
}

// UnmarshalJSON reads a status, its exact paths from the _b64 fields.
func (c *CardStatus) UnmarshalJSON(b []byte) error {
	var v struct {
		cardStatusJSON
		DestB64       string `json:"dest_b64"`
		FileB64       string `json:"file_b64"`
		FailedPathB64 string `json:"failed_path_b64"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	var err error
	*c = CardStatus(v.cardStatusJSON)
	if c.Dest, err = storage.PathFromB64(v.Dest, v.DestB64); err != nil {
		return err
	}
	if c.File, err = storage.PathFromB64(v.File, v.FileB64); err != nil {
		return err
	}
	c.FailedPath, err = storage.PathFromB64(v.FailedPath, v.FailedPathB64)
	return err
}
