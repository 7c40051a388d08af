package wire

import "github.com/ingestd/ingestd/storage"

// Names found on cards and volumes are bytes that need not be UTF-8. Like
// storage.Location, each JSON field F holding such a path gets F_b64 (the
// exact bytes, standard base64) when the path is not valid UTF-8, and
// decoding takes the path from it (docs/api.md, "Paths that are not
// UTF-8"). All go through storage.MarshalPaths and storage.UnmarshalPaths.

type verifyLineJSON VerifyLine

func (l *verifyLineJSON) paths() []storage.PathField {
	return []storage.PathField{{Key: "path_b64", Path: &l.Path}}
}

// MarshalJSON writes the line with path_b64 when its path is not UTF-8.
func (l VerifyLine) MarshalJSON() ([]byte, error) {
	v := verifyLineJSON(l)
	return storage.MarshalPaths(v, v.paths()...)
}

// UnmarshalJSON reads a line, its exact path from path_b64 when present.
func (l *VerifyLine) UnmarshalJSON(b []byte) error {
	return storage.UnmarshalPaths(b, (*verifyLineJSON)(l), (*verifyLineJSON).paths)
}

type reportFileJSON ReportFile

func (f *reportFileJSON) paths() []storage.PathField {
	return []storage.PathField{{Key: "path_b64", Path: &f.Path}}
}

// MarshalJSON writes the file with path_b64 when its path is not UTF-8.
func (f ReportFile) MarshalJSON() ([]byte, error) {
	v := reportFileJSON(f)
	return storage.MarshalPaths(v, v.paths()...)
}

// UnmarshalJSON reads a file, its exact path from path_b64 when present.
func (f *ReportFile) UnmarshalJSON(b []byte) error {
	return storage.UnmarshalPaths(b, (*reportFileJSON)(f), (*reportFileJSON).paths)
}

type cardStatusJSON CardStatus

func (c *cardStatusJSON) paths() []storage.PathField {
	return []storage.PathField{{Key: "dest_b64", Path: &c.Dest}, {Key: "file_b64", Path: &c.File}, {Key: "failed_path_b64", Path: &c.FailedPath}}
}

// MarshalJSON writes the status with dest_b64, file_b64 and
// failed_path_b64 when those paths are not UTF-8.
func (c CardStatus) MarshalJSON() ([]byte, error) {
	v := cardStatusJSON(c)
	return storage.MarshalPaths(v, v.paths()...)
}

// UnmarshalJSON reads a status, its exact paths from the _b64 fields.
func (c *CardStatus) UnmarshalJSON(b []byte) error {
	return storage.UnmarshalPaths(b, (*cardStatusJSON)(c), (*cardStatusJSON).paths)
}
