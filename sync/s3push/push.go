package s3push

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/zeebo/blake3"

	"github.com/ingestd/ingestd/internal/redact"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/sync/hubstore"
)

// errPermanent marks a failure of one asset that retrying will not fix
// (a derived file missing or unreadable): the asset is marked failed and
// the queue moves on.
var errPermanent = errors.New("permanent")

type permanentError struct{ err error }

func (e permanentError) Error() string   { return e.err.Error() }
func (e permanentError) Unwrap() []error { return []error{e.err, errPermanent} }
func permanent(err error) error          { return permanentError{err} }
func statFile(p string) (int64, error)   { fi, err := os.Stat(p); return sizeOf(fi, err) }
func sizeOf(fi os.FileInfo, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// metaBLAKE3 is the object metadata (x-amz-meta-blake3) holding the BLAKE3
// of the object's bytes; HEAD compares it and the size before re-sending.
const metaBLAKE3 = "blake3"

// assetState is what was last pushed for an asset.
type assetState struct {
	DocHash    string             `json:"doc_hash"`              // sha256 of asset.json without sync
	FailedHash string             `json:"failed_hash,omitempty"` // doc that failed permanently
	Objects    map[string]fileSig `json:"objects,omitempty"`     // name -> local file pushed
	At         time.Time          `json:"at"`
}

// fileSig identifies a local file's content without reading it again.
type fileSig struct {
	Size   int64  `json:"size"`
	MTime  int64  `json:"mtime_ns"`
	BLAKE3 string `json:"blake3"`
}

// contentHash identifies the version of an asset that matters to the hub:
// the document without its sync block (which only we write).
func contentHash(doc storage.AssetDoc) (string, error) {
	doc.Sync = nil
	b, err := docJSON(doc)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}

// errChanged: the asset changed in the catalog while its objects were
// being pushed; what is in the bucket is the version before.
var errChanged = errors.New("asset changed while being pushed")

// pushAsset uploads an asset's outputs then its asset.json, and records
// asset.synced. Unchanged assets cost one catalog read. An asset that
// changes meanwhile (its proxy became ready while the asset.json of the
// version before was being put) is pushed again at once, a few times; after
// that the change's own event queues it again.
func (p *Pusher) pushAsset(ctx context.Context, id string) error {
	for range 3 {
		if err := p.pushAssetOnce(ctx, id); !errors.Is(err, errChanged) {
			return err
		}
		p.log.Debug("asset changed while being pushed; pushing it again", "asset", id)
	}
	return nil
}

// assetHash identifies the asset record as pushed (its objects and the
// asset.json fields but locations), without the sync block only we write.
func assetHash(a storage.Asset) string {
	a.Sync = nil
	b, _ := json.Marshal(a)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func (p *Pusher) pushAssetOnce(ctx context.Context, id string) error {
	doc, err := p.cat.Asset(id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read asset %s: %w", id, err)
	}
	ch, err := contentHash(doc)
	if err != nil {
		return permanent(fmt.Errorf("encode asset %s: %w", id, err))
	}
	var st assetState
	if err := p.cat.GetState(assetPfx+id, &st); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("read push state of %s: %w", id, err)
	}
	if st.DocHash == ch && doc.Sync != nil && doc.Sync.Status == "synced" {
		return nil // already in the bucket
	}
	if st.FailedHash == ch && doc.Sync != nil && doc.Sync.Status == "failed" {
		return nil // this version failed for good; a change retries it
	}
	objects := map[string]fileSig{}
	for _, name := range outputsOf(doc.Asset) {
		var hint *fileSig
		if h, ok := st.Objects[name]; ok {
			hint = &h
		}
		sum, err := p.uploadFile(ctx, p.Key(id, name), storage.OutputPath(p.stateDir, id, name), outputType(name), hint)
		if err != nil {
			if errors.Is(err, errPermanent) {
				return p.markFailed(id, ch, st, err)
			}
			return err
		}
		objects[name] = sum
	}
	pushed := assetHash(doc.Asset)
	at := time.Now().UTC()
	doc.Sync = &storage.SyncInfo{Status: "synced", At: at}
	body, err := docJSON(doc)
	if err != nil {
		return permanent(fmt.Errorf("encode asset %s: %w", id, err))
	}
	if _, err := p.uploadBytes(ctx, p.Key(id, "asset.json"), body, "application/json"); err != nil {
		return err
	}
	// asset.synced says the asset's objects are in the bucket: only for
	// the version whose objects were put (docs/api.md).
	if _, err := p.cat.UpdateAsset(id, storage.EvAssetSynced, "", func(a *storage.Asset) error {
		if assetHash(*a) != pushed {
			return errChanged
		}
		a.Sync = &storage.SyncInfo{Status: "synced", At: at}
		return nil
	}); errors.Is(err, errChanged) {
		return errChanged
	} else if err != nil {
		return fmt.Errorf("record sync of %s: %w", id, err)
	}
	if err := p.cat.PutState(assetPfx+id, assetState{DocHash: ch, Objects: objects, At: at}); err != nil {
		return fmt.Errorf("record push state of %s: %w", id, err)
	}
	p.mu.Lock()
	p.synced++
	p.lastSuccess = time.Now().UTC()
	p.mu.Unlock()
	p.log.Debug("asset synced", "asset", id, "objects", len(objects)+1)
	return nil
}

// markFailed records a permanent failure in the asset (sync.status failed)
// through an asset.updated event; the doc hash keeps us from retrying that
// same version forever.
func (p *Pusher) markFailed(id, ch string, st assetState, cause error) error {
	p.log.Error("asset cannot be synced", "asset", id, "err", cause)
	// Served (asset document, feed): a file of ours relative to the state
	// dir, as proxy.error names it; the log above keeps the full path.
	msg := redact.String(strings.ReplaceAll(cause.Error(), filepath.Clean(p.stateDir)+"/", "state_dir/"))
	if _, err := p.cat.UpdateAsset(id, storage.EvAssetUpdated, "sync failed: "+msg, func(a *storage.Asset) error {
		a.Sync = &storage.SyncInfo{Status: "failed", At: time.Now().UTC(), Error: msg}
		return nil
	}); err != nil {
		return fmt.Errorf("record sync failure of %s: %w", id, err)
	}
	st.FailedHash = ch
	if err := p.cat.PutState(assetPfx+id, st); err != nil {
		return fmt.Errorf("record push state of %s: %w", id, err)
	}
	return cause
}

// localSums reads a file once for its BLAKE3 and CRC32C.
func localSums(f io.Reader) (b3 string, crc uint32, n int64, err error) {
	h := blake3.New()
	c := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	n, err = io.CopyBuffer(io.MultiWriter(h, c), f, make([]byte, 1<<20))
	return hex.EncodeToString(h.Sum(nil)), c.Sum32(), n, err
}

// uploadFile puts a local file at key unless the bucket already holds the
// same bytes (Stat: size and BLAKE3 metadata). hint, the file as last
// pushed, spares reading an unchanged file again just to compare.
func (p *Pusher) uploadFile(ctx context.Context, key, file, contentType string, hint *fileSig) (fileSig, error) {
	f, err := os.Open(file)
	if err != nil {
		return fileSig{}, permanent(err) // an *fs.PathError: names the file
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileSig{}, permanent(err)
	}
	sig := fileSig{Size: fi.Size(), MTime: fi.ModTime().UnixNano()}
	if hint != nil && hint.Size == sig.Size && hint.MTime == sig.MTime && hint.BLAKE3 != "" {
		if same, err := p.sameObject(ctx, key, sig.Size, hint.BLAKE3); err != nil {
			return sig, err
		} else if same {
			return *hint, nil
		}
	}
	b3, crc, size, err := localSums(f)
	if err != nil {
		return sig, permanent(err)
	}
	sig.BLAKE3 = b3
	if size != sig.Size {
		return sig, fmt.Errorf("%s changed while being read", file)
	}
	if same, err := p.sameObject(ctx, key, size, b3); err != nil {
		return sig, err
	} else if same {
		return sig, nil
	}
	if size >= p.cfg.MultipartThreshold {
		err = p.multipart(ctx, key, f, size, b3, crc, contentType)
	} else {
		err = p.put(ctx, key, io.NewSectionReader(f, 0, size), size, b3, crc, contentType)
	}
	return sig, err
}

// uploadBytes is uploadFile for an in-memory document.
func (p *Pusher) uploadBytes(ctx context.Context, key string, body []byte, contentType string) (string, error) {
	b3, crc, size, _ := localSums(bytes.NewReader(body))
	if same, err := p.sameObject(ctx, key, size, b3); err != nil || same {
		return b3, err
	}
	return b3, p.put(ctx, key, bytes.NewReader(body), size, b3, crc, contentType)
}

// sameObject stats key and compares size and BLAKE3 metadata.
func (p *Pusher) sameObject(ctx context.Context, key string, size int64, b3 string) (bool, error) {
	oi, err := p.store.Stat(ctx, key)
	if errors.Is(err, hubstore.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if oi.Size == size && oi.Metadata[metaBLAKE3] == b3 {
		p.mu.Lock()
		p.skipped++
		p.mu.Unlock()
		return true, nil
	}
	return false, nil
}

func (p *Pusher) track(key string, total int64) (*progress, func()) {
	pr := &progress{key: key, total: total, started: time.Now()}
	p.mu.Lock()
	p.inflight[pr] = struct{}{}
	p.mu.Unlock()
	return pr, func() {
		p.mu.Lock()
		delete(p.inflight, pr)
		p.mu.Unlock()
	}
}

// progress counts the bytes of one upload for Status.
type progress struct {
	key     string
	total   int64
	done    atomic.Int64
	started time.Time
}

// progressReader counts the bytes of a body read into prog; a rewind (a
// retry sends the body again) takes back what it had counted.
type progressReader struct {
	r    io.ReadSeeker
	prog *progress
	read int64 // bytes counted since the last rewind
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.prog.done.Add(int64(n))
	r.read += int64(n)
	return n, err
}

func (r *progressReader) Seek(off int64, whence int) (int64, error) {
	if off == 0 && whence == io.SeekStart && r.read > 0 {
		r.prog.done.Add(-r.read)
		r.read = 0
	}
	return r.r.Seek(off, whence)
}

// put sends one object with a CRC32C the server verifies.
func (p *Pusher) put(ctx context.Context, key string, body io.ReadSeeker, size int64, b3 string, crc uint32, contentType string) error {
	if err := p.slots.Acquire(ctx); err != nil {
		return err
	}
	defer p.slots.Release()
	pr, done := p.track(key, size)
	defer done()
	_, err := p.store.Put(ctx, key, &progressReader{r: body, prog: pr}, size, hubstore.PutOptions{
		ContentType: contentType, Metadata: map[string]string{metaBLAKE3: b3}, CRC32C: hubstore.EncodeCRC32C(crc)})
	if err != nil {
		return err
	}
	p.addUploaded(size)
	return nil
}

func (p *Pusher) addUploaded(n int64) {
	p.mu.Lock()
	p.uploaded += n
	p.lastSuccess = time.Now().UTC()
	p.mu.Unlock()
}

// ErrAuth and ErrNoBucket classify hub errors that need an operator
// (hubstore's classes).
var (
	ErrAuth     = hubstore.ErrAuth
	ErrNoBucket = hubstore.ErrNoBucket
)
