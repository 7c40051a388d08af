package hubstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// MemHub is an in-memory object server: buckets of objects and multipart
// uploads, and the credentials it accepts. Its stores (Store) honour the
// whole Store contract, error classes and part rules included, so it is the
// reference implementation and a fast store for tests. Down makes it
// unreachable (ErrUnavailable) until Up.
type MemHub struct {
	mu      sync.Mutex
	buckets map[string]*memBucket
	secrets map[string]string // access key -> secret
	down    bool
	seq     int
}

type memBucket struct {
	objects map[string]*memObject
	uploads map[string]*memUpload
}

type memObject struct {
	data        []byte
	contentType string
	meta        map[string]string
	crc         string // full-object CRC32C, base64
	etag        string
	modified    time.Time
}

type memUpload struct {
	key   string
	opts  PutOptions
	parts map[int32]memPart
}

type memPart struct {
	data []byte
	etag string
	crc  string
}

// NewMemHub returns a hub with no buckets that accepts the access key id
// and secret given.
func NewMemHub(accessKey, secret string) *MemHub {
	return &MemHub{buckets: map[string]*memBucket{}, secrets: map[string]string{accessKey: secret}}
}

// CreateBucket adds an empty bucket (no-op if it exists).
func (h *MemHub) CreateBucket(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.buckets[name] == nil {
		h.buckets[name] = &memBucket{objects: map[string]*memObject{}, uploads: map[string]*memUpload{}}
	}
}

// Down makes every call fail with ErrUnavailable (an outage) until Up.
func (h *MemHub) Down() { h.mu.Lock(); h.down = true; h.mu.Unlock() }

// Up ends an outage.
func (h *MemHub) Up() { h.mu.Lock(); h.down = false; h.mu.Unlock() }

// Uploads counts the open multipart uploads of a bucket.
func (h *MemHub) Uploads(bucket string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b := h.buckets[bucket]; b != nil {
		return len(b.uploads)
	}
	return 0
}

// Store is a client of bucket with the given credentials. It does not check
// them until a call.
func (h *MemHub) Store(bucket, accessKey, secret string) Store {
	return &memStore{h: h, bucket: bucket, key: accessKey, secret: secret}
}

type memStore struct {
	h                   *MemHub
	bucket, key, secret string
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C is the base64 CRC32C of b, as PutOptions and Part carry it.
func CRC32C(b []byte) string { return EncodeCRC32C(crc32.Checksum(b, castagnoli)) }

// EncodeCRC32C is the base64 big-endian form of a CRC32C.
func EncodeCRC32C(c uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], c)
	return base64.StdEncoding.EncodeToString(b[:])
}

func memErr(op, key string, kind error, format string, args ...any) error {
	return &Error{Op: op, Key: key, Kind: kind, Err: kind, Msg: fmt.Sprintf("%s %s: ", op, key) + fmt.Sprintf(format, args...)}
}

// enter checks ctx, the outage, the credentials and the bucket, and
// returns the bucket with h.mu held (the caller unlocks), or an error.
func (s *memStore) enter(ctx context.Context, op, key string) (*memBucket, error) {
	if err := ctx.Err(); err != nil {
		return nil, &Error{Op: op, Key: key, Kind: err, Err: err, Msg: fmt.Sprintf("%s %s: %v", op, key, err)}
	}
	s.h.mu.Lock()
	switch sec, ok := s.h.secrets[s.key]; {
	case s.h.down:
		s.h.mu.Unlock()
		return nil, memErr(op, key, ErrUnavailable, "hub unreachable (memory hub down)")
	case !ok || sec != s.secret:
		s.h.mu.Unlock()
		return nil, memErr(op, key, ErrAuth, "%v for bucket %q", ErrAuth, s.bucket)
	}
	b := s.h.buckets[s.bucket]
	if b == nil {
		s.h.mu.Unlock()
		return nil, memErr(op, key, ErrNoBucket, "bucket %q: %v", s.bucket, ErrNoBucket)
	}
	return b, nil
}

// readBody reads exactly size bytes of body, giving up when ctx ends.
func readBody(ctx context.Context, op, key string, body io.Reader, size int64) ([]byte, error) {
	var buf bytes.Buffer
	p := make([]byte, 64<<10)
	for int64(buf.Len()) < size {
		if err := ctx.Err(); err != nil {
			return nil, &Error{Op: op, Key: key, Kind: err, Err: err, Msg: fmt.Sprintf("%s %s: %v", op, key, err)}
		}
		n, err := body.Read(p[:min(int64(len(p)), size-int64(buf.Len()))])
		buf.Write(p[:n])
		if err == io.EOF && int64(buf.Len()) < size {
			return nil, memErr(op, key, nil, "body ended after %d of %d bytes", buf.Len(), size)
		}
		if err != nil && err != io.EOF {
			if cerr := ctx.Err(); cerr != nil {
				return nil, &Error{Op: op, Key: key, Kind: cerr, Err: err, Msg: fmt.Sprintf("%s %s: %v", op, key, err)}
			}
			return nil, &Error{Op: op, Key: key, Err: err, Msg: fmt.Sprintf("%s %s: read body: %v", op, key, err)}
		}
	}
	return buf.Bytes(), nil
}

func etagOf(b []byte) string {
	sum := md5.Sum(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func lowerKeys(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

func (s *memStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	b, err := s.enter(ctx, "stat", key)
	if err != nil {
		return ObjectInfo{}, err
	}
	defer s.h.mu.Unlock()
	o := b.objects[key]
	if o == nil {
		return ObjectInfo{}, memErr("stat", key, ErrNotFound, "%v", ErrNotFound)
	}
	return o.info(key, true), nil
}

func (o *memObject) info(key string, full bool) ObjectInfo {
	oi := ObjectInfo{Key: key, Size: int64(len(o.data)), ETag: o.etag, Modified: o.modified}
	if full {
		oi.ContentType, oi.CRC32C = o.contentType, o.crc
		if o.meta != nil {
			oi.Metadata = map[string]string{}
			for k, v := range o.meta {
				oi.Metadata[k] = v
			}
		}
	}
	return oi
}

func (s *memStore) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, o PutOptions) (PutResult, error) {
	// Check access first, as a server answers before the body is sent.
	if _, err := s.enter(ctx, "put", key); err != nil {
		return PutResult{}, err
	}
	s.h.mu.Unlock()
	data, err := readBody(ctx, "put", key, body, size)
	if err != nil {
		return PutResult{}, err
	}
	crc := CRC32C(data)
	if o.CRC32C != "" && o.CRC32C != crc {
		return PutResult{}, memErr("put", key, ErrChecksum, "%v: CRC32C sent %s, received bytes have %s", ErrChecksum, o.CRC32C, crc)
	}
	b, err := s.enter(ctx, "put", key)
	if err != nil {
		return PutResult{}, err
	}
	defer s.h.mu.Unlock()
	now := time.Now().UTC()
	b.objects[key] = &memObject{data: data, contentType: o.ContentType, meta: lowerKeys(o.Metadata), crc: crc, etag: etagOf(data), modified: now}
	return PutResult{ServerTime: now}, nil
}

func (s *memStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	b, err := s.enter(ctx, "get", key)
	if err != nil {
		return nil, err
	}
	defer s.h.mu.Unlock()
	o := b.objects[key]
	if o == nil {
		return nil, memErr("get", key, ErrNotFound, "%v", ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(o.data)), nil
}

func (s *memStore) Delete(ctx context.Context, key string) error {
	b, err := s.enter(ctx, "delete", key)
	if err != nil {
		return err
	}
	defer s.h.mu.Unlock()
	delete(b.objects, key)
	return nil
}

func (s *memStore) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	b, err := s.enter(ctx, "list", prefix)
	if err != nil {
		return err
	}
	var infos []ObjectInfo
	for k, o := range b.objects {
		if strings.HasPrefix(k, prefix) {
			infos = append(infos, o.info(k, false))
		}
	}
	s.h.mu.Unlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Key < infos[j].Key })
	for _, oi := range infos {
		if err := ctx.Err(); err != nil {
			return &Error{Op: "list", Key: prefix, Kind: err, Err: err, Msg: fmt.Sprintf("list %s: %v", prefix, err)}
		}
		if err := fn(oi); err != nil {
			return err
		}
	}
	return nil
}

func (s *memStore) CreateUpload(ctx context.Context, key string, o PutOptions) (string, error) {
	b, err := s.enter(ctx, "create upload", key)
	if err != nil {
		return "", err
	}
	defer s.h.mu.Unlock()
	s.h.seq++
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	id := fmt.Sprintf("mem-%d-%s", s.h.seq, hex.EncodeToString(rnd[:]))
	o.Metadata = lowerKeys(o.Metadata)
	b.uploads[id] = &memUpload{key: key, opts: o, parts: map[int32]memPart{}}
	return id, nil
}

// upload returns the upload with h.mu held, or ErrNoSuchUpload.
func (s *memStore) upload(ctx context.Context, op, key, id string) (*memBucket, *memUpload, error) {
	b, err := s.enter(ctx, op, key)
	if err != nil {
		return nil, nil, err
	}
	u := b.uploads[id]
	if u == nil || u.key != key {
		s.h.mu.Unlock()
		return nil, nil, memErr(op, key, ErrNoSuchUpload, "upload %s: %v", id, ErrNoSuchUpload)
	}
	return b, u, nil
}

func (s *memStore) UploadPart(ctx context.Context, key, uploadID string, n int32, body io.ReadSeeker, size int64, crc string) (Part, error) {
	if n < 1 || n > MaxParts {
		return Part{}, memErr("upload part", key, ErrUploadRejected, "part number %d outside 1..%d", n, MaxParts)
	}
	if size > MaxPartSize {
		return Part{}, memErr("upload part", key, ErrUploadRejected, "part %d of %d bytes exceeds %d", n, size, MaxPartSize)
	}
	if _, _, err := s.upload(ctx, "upload part", key, uploadID); err != nil {
		return Part{}, err
	}
	s.h.mu.Unlock()
	data, err := readBody(ctx, "upload part", key, body, size)
	if err != nil {
		return Part{}, err
	}
	got := CRC32C(data)
	if crc != "" && crc != got {
		return Part{}, memErr("upload part", key, ErrChecksum, "part %d: %v: CRC32C sent %s, received bytes have %s", n, ErrChecksum, crc, got)
	}
	_, u, err := s.upload(ctx, "upload part", key, uploadID)
	if err != nil {
		return Part{}, err
	}
	defer s.h.mu.Unlock()
	p := memPart{data: data, etag: etagOf(data), crc: got}
	u.parts[n] = p
	return Part{Number: n, Size: size, ETag: p.etag, CRC32C: got}, nil
}

func (s *memStore) ListParts(ctx context.Context, key, uploadID string) ([]Part, error) {
	_, u, err := s.upload(ctx, "list parts", key, uploadID)
	if err != nil {
		return nil, err
	}
	defer s.h.mu.Unlock()
	ps := make([]Part, 0, len(u.parts))
	for n, p := range u.parts {
		ps = append(ps, Part{Number: n, Size: int64(len(p.data)), ETag: p.etag, CRC32C: p.crc})
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Number < ps[j].Number })
	return ps, nil
}

func (s *memStore) CompleteUpload(ctx context.Context, key, uploadID string, parts []Part, o CompleteOptions) error {
	const op = "complete upload"
	b, u, err := s.upload(ctx, op, key, uploadID)
	if err != nil {
		return err
	}
	defer s.h.mu.Unlock()
	if len(parts) == 0 {
		return memErr(op, key, ErrUploadRejected, "no parts")
	}
	var data []byte
	for i, p := range parts {
		sp, ok := u.parts[p.Number]
		switch {
		case i > 0 && p.Number <= parts[i-1].Number:
			return memErr(op, key, ErrUploadRejected, "part %d listed after part %d: numbers must ascend", p.Number, parts[i-1].Number)
		case !ok || sp.etag != p.ETag:
			return memErr(op, key, ErrUploadRejected, "part %d with ETag %s is not in upload %s", p.Number, p.ETag, uploadID)
		case p.CRC32C != "" && p.CRC32C != sp.crc:
			return memErr(op, key, ErrUploadRejected, "part %d: CRC32C %s, stored %s", p.Number, p.CRC32C, sp.crc)
		case i < len(parts)-1 && len(sp.data) < MinPartSize:
			return memErr(op, key, ErrUploadRejected, "part %d has %d bytes, less than %d (only the last part may be smaller)", p.Number, len(sp.data), MinPartSize)
		}
		data = append(data, sp.data...)
	}
	crc := CRC32C(data)
	if o.CRC32C != "" && o.CRC32C != crc {
		return memErr(op, key, ErrUploadRejected, "whole-object CRC32C %s, assembled %s", o.CRC32C, crc)
	}
	if o.Size > 0 && o.Size != int64(len(data)) {
		return memErr(op, key, ErrUploadRejected, "object size %d, assembled %d", o.Size, len(data))
	}
	b.objects[key] = &memObject{data: data, contentType: u.opts.ContentType, meta: u.opts.Metadata, crc: crc,
		etag: fmt.Sprintf(`"%s-%d"`, strings.Trim(etagOf(data), `"`), len(parts)), modified: time.Now().UTC()}
	delete(b.uploads, uploadID)
	return nil
}

func (s *memStore) AbortUpload(ctx context.Context, key, uploadID string) error {
	b, err := s.enter(ctx, "abort upload", key)
	if err != nil {
		return err
	}
	defer s.h.mu.Unlock()
	if u := b.uploads[uploadID]; u != nil && u.key == key {
		delete(b.uploads, uploadID)
	}
	return nil
}
