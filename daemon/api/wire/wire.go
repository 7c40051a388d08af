// Package wire holds the JSON documents ingestd's HTTP API serves, as typed
// structs: GET /v1/status and each of its sections, assets and their
// pages, the event feed, camera cards, clips, the offload report, the
// lines of POST /v1/verify, frame sequences, analysis.json and the
// enrichment documents, waveform.json, the console's session and the
// error body (media.go: the documents a stage package writes or stores in
// exactly the served form; the stage aliases them). docs/api.md is their
// contract; the golden files in testdata pin their JSON shape (go test
// -update rewrites them after a deliberate change, which docs/api.md must
// then describe).
//
// The server fills these types (each stage fills its own section of a
// *Status) and the CLI and tests decode into them, so the two sides cannot
// disagree on a field name and the CLI needs no stage package.
//
// It owns only types and their JSON forms. It must not import anything but
// the standard library and package storage (itself only types): it is a
// leaf that every other package may import. The catalog's own documents
// (Asset, Location, Event, and the card service's Card and Clip records
// with their parts) are storage's types, aliased here, because the catalog
// stores and uploads exactly that form.
package wire

import "github.com/ingestd/ingestd/storage"

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
	Param string `json:"param,omitempty"` // the query parameter at fault
}

// Health is GET /healthz.
type Health struct {
	Status string `json:"status"` // "ok"
}

// Catalog documents, as stored and uploaded (asset.json); see storage.
type (
	Asset    = storage.AssetDoc // GET /v1/assets/{id}
	Location = storage.Location
	Event    = storage.Event
	Hashes   = storage.Hashes
)

// Feed is GET /v1/feed.
type Feed struct {
	Events []Event `json:"events"`
	Next   uint64  `json:"next"`
}

// AssetsPage is GET /v1/assets.
type AssetsPage struct {
	Assets []Asset `json:"assets"`
	Next   string  `json:"next"`
	// Scanned is how many assets a filtered request read.
	Scanned *int `json:"scanned,omitempty"`
}
