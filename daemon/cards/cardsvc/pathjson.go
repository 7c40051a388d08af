package cardsvc

import (
	"github.com/ingestd/ingestd/storage"
)

// Paths of clip parts are names found on cards and volumes: bytes that
// need not be UTF-8. Like storage.Location, their JSON carries path_b64
// (the exact bytes, standard base64) when the path is not valid UTF-8, and
// decoding takes the path from it (docs/api.md, "Paths that are not
// UTF-8"). Card records and statuses name paths in other fields: each such
// field F gets F_b64 on the same terms (folder_b64, failed_path_b64,
// file_b64, dest_b64). All go through storage.MarshalPaths and
// storage.UnmarshalPaths.

type clipPartJSON ClipPart

// MarshalJSON writes the part with path_b64 when its path is not UTF-8.
func (p ClipPart) MarshalJSON() ([]byte, error) {
	return storage.MarshalPaths(clipPartJSON(p), storage.PathField{Key: "path_b64", Path: &p.Path})
}

// UnmarshalJSON reads a part, its exact path from path_b64 when present.
func (p *ClipPart) UnmarshalJSON(b []byte) error {
	return storage.UnmarshalPaths(b, (*clipPartJSON)(p), func(v *clipPartJSON) []storage.PathField {
		return []storage.PathField{{Key: "path_b64", Path: &v.Path}}
	})
}

type recordJSON Record

func (r *recordJSON) paths() []storage.PathField {
	return []storage.PathField{{Key: "folder_b64", Path: &r.Folder}, {Key: "failed_path_b64", Path: &r.FailedPath}}
}

// MarshalJSON writes the record with folder_b64 and failed_path_b64 when
// those paths are not UTF-8.
func (r Record) MarshalJSON() ([]byte, error) {
	v := recordJSON(r)
	return storage.MarshalPaths(v, v.paths()...)
}

// UnmarshalJSON reads a record, its exact paths from the _b64 fields.
func (r *Record) UnmarshalJSON(b []byte) error {
	return storage.UnmarshalPaths(b, (*recordJSON)(r), (*recordJSON).paths)
}
