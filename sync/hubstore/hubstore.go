// Package hubstore is the hub's object store: the contract every store
// honours (Store), its implementation on S3 (NewS3, aws-sdk-go-v2, with the
// stall-timeout transport), an in-memory implementation (MemHub, the
// reference of the contract and a store for tests), the wrappers that add
// retry with backoff (Retry) and the time-of-day bandwidth schedule (Limit),
// and the probe that doctor and the pusher share (Probe). Its conformance
// suite is in package storetest.
//
// It owns the wire to the bucket and nothing else: it never reads the
// catalog, the state directory or the watched volumes, keeps no state on
// disk (a caller that resumes uploads persists the upload id and parts), and
// deletes only what a caller names (the pusher never deletes; Probe deletes
// its own probe object).
package hubstore

import (
	"context"
	"errors"
	"io"
	"time"
)

// Store is one bucket of the hub. Keys are slash-separated UTF-8 paths
// without a leading slash; a store never interprets them beyond the byte
// order of List. The contract, which package storetest checks against every
// implementation:
//
// Writes. Put stores exactly size bytes read from body at key, replacing any
// object there, together with its content type and metadata. It is
// idempotent: putting the same key with the same bytes twice, or retrying a
// Put whose outcome is unknown (a timeout), leaves the same object. A Put
// that fails leaves either the old object or the new one, never a mix. When
// PutOptions.CRC32C is set the store verifies the bytes it received against
// it and refuses them with ErrChecksum on a mismatch. The body may be read
// more than once only after a Seek to its start (Retry rewinds it).
//
// Metadata keys are lower-case ASCII (a store lower-cases them); values are
// printable ASCII. Stat returns them as stored.
//
// Reads. Stat returns an object's size, metadata, content type and, when
// the object was written with one, its full-object CRC32C; ErrNotFound when
// no object is at key. (S3 answers a HEAD without an error body, so Stat on a
// missing bucket may report ErrNotFound: Put, Get, List and CreateUpload
// report ErrNoBucket.) Get returns the bytes (the caller closes them).
// List calls fn for every object whose key begins with prefix, in
// ascending byte order of keys, and stops at fn's first error, which it
// returns. Objects written before List began and not deleted are listed.
//
// Delete removes the object at key; deleting a missing key is not an error
// (S3's semantics).
//
// Resumable multipart uploads. CreateUpload starts an upload at key and
// returns its id; the store does not list uploads for a caller, so a caller
// that wants to resume after a restart persists the id (and what it knows of
// the parts) before it sends the first part. UploadPart stores part n
// (1 to MaxParts) of the upload, replacing an earlier part n; its CRC32C is
// verified like Put's. ListParts returns the parts the store holds, by
// ascending number, with their size, ETag and CRC32C: this is how an
// interrupted upload is continued: list, keep the parts whose size (and
// CRC32C, or the ETag recorded before the interruption) match the local
// bytes, send only the others, then complete. CompleteUpload assembles the
// listed parts (ascending numbers, each with the ETag UploadPart returned)
// into one object carrying the upload's metadata; every part but the last
// must hold at least MinPartSize bytes, and none more than MaxPartSize. When
// CompleteOptions.CRC32C is set it is the CRC32C of the whole object
// (FULL_OBJECT) and the store verifies it. A part list the store disagrees
// with (unknown part or ETag, part too small, checksum or size mismatch)
// fails with ErrUploadRejected: retrying the same request cannot succeed;
// abort the upload and start over. An upload that is gone (completed,
// aborted, or expired on the server) fails UploadPart, ListParts and
// CompleteUpload with ErrNoSuchUpload: start over (after a CompleteUpload
// whose answer was lost, Stat tells whether the object is already there).
// AbortUpload discards an upload and its parts; aborting a gone upload is
// not an error.
//
// Errors. Every error a store returns for a failed operation is an *Error
// naming the operation and key. Callers classify with errors.Is:
//
//   - ErrUnavailable: the store could not be reached or did not answer in
//     time (refused, reset, DNS, timeouts, a stalled connection, HTTP 5xx,
//     throttling). Transient: the same call may succeed later. Retryable
//     reports exactly these.
//   - ErrAuth, ErrNoBucket: the credentials were rejected or the bucket does
//     not exist. Permanent for the call; only an operator fixes them, so a
//     retry is useless until the configuration changes.
//   - ErrNotFound, ErrNoSuchUpload, ErrUploadRejected, ErrChecksum: answers
//     about this request's data, permanent for the same request.
//   - context.Canceled, context.DeadlineExceeded: the caller's context ended.
//     Every call returns promptly once its context is done, a Put or
//     UploadPart in the middle of its body included; the object or part is
//     then absent or complete, never partial.
//
// Any other error is unclassified: not retryable by Retry; a caller's own
// schedule (the pusher's queue backoff) may try again later.
//
// Probe. Probe(ctx, store, dir) checks what the pusher needs of a store:
// that a probe object can be put, read back byte for byte, and deleted under
// dir, and how far the store's clock is from ours.
type Store interface {
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	Put(ctx context.Context, key string, body io.ReadSeeker, size int64, o PutOptions) (PutResult, error)
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error

	CreateUpload(ctx context.Context, key string, o PutOptions) (uploadID string, err error)
	UploadPart(ctx context.Context, key, uploadID string, n int32, body io.ReadSeeker, size int64, crc32c string) (Part, error)
	ListParts(ctx context.Context, key, uploadID string) ([]Part, error)
	CompleteUpload(ctx context.Context, key, uploadID string, parts []Part, o CompleteOptions) error
	AbortUpload(ctx context.Context, key, uploadID string) error
}

// Part sizes and count of a multipart upload (S3's limits).
const (
	MinPartSize = 5 << 20
	MaxPartSize = 5 << 30
	MaxParts    = 10000
)

// PutOptions describe an object written by Put or CreateUpload.
type PutOptions struct {
	ContentType string
	Metadata    map[string]string
	// CRC32C is the base64 CRC32C (Castagnoli, big-endian) of the bytes:
	// the store verifies it. For CreateUpload it is unused (give the whole
	// object's CRC32C to CompleteUpload); a store keeps whole-object CRC32Cs.
	CRC32C string
}

// PutResult is what a store says about a finished Put.
type PutResult struct {
	// ServerTime is the store's clock when it answered (the HTTP Date
	// header); zero when unknown.
	ServerTime time.Time
}

// CompleteOptions check the assembled object.
type CompleteOptions struct {
	CRC32C string // base64 CRC32C of the whole object; "" skips the check
	Size   int64  // the whole object's size; 0 skips the check
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key         string
	Size        int64
	ETag        string
	ContentType string            // Stat only
	Metadata    map[string]string // Stat only; keys lower-case
	CRC32C      string            // Stat only; base64, "" when unknown
	Modified    time.Time
}

// Part is one stored part of a multipart upload.
type Part struct {
	Number int32
	Size   int64
	ETag   string
	CRC32C string // base64
}

// Classes of failure; see Store.
var (
	ErrUnavailable    = errors.New("hub unavailable")
	ErrAuth           = errors.New("credentials rejected")
	ErrNoBucket       = errors.New("bucket does not exist")
	ErrNotFound       = errors.New("object not found")
	ErrNoSuchUpload   = errors.New("multipart upload not found")
	ErrUploadRejected = errors.New("multipart upload rejected")
	ErrChecksum       = errors.New("checksum mismatch")
)

// Error is a failed store operation. errors.Is(err, Kind) holds, and
// errors.Is/As reach the implementation's own error (Err) too.
type Error struct {
	Op   string // "put", "stat", "upload part", ...
	Key  string
	Kind error // one of the Err* classes, nil when unclassified
	Err  error // the cause as the implementation saw it
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the class and the cause.
func (e *Error) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.Kind, e.Err} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// Retryable reports whether the same call may succeed later without a
// change of configuration (ErrUnavailable), while ctx is still live.
func Retryable(err error) bool { return errors.Is(err, ErrUnavailable) }
