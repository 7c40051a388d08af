package s3push

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/zeebo/blake3"

	"github.com/ingestd/ingestd/internal/redact"
	"github.com/ingestd/ingestd/storage"
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

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

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

// pushAsset uploads an asset's outputs then its asset.json, and records
// asset.synced. Unchanged assets cost one catalog read.
func (p *Pusher) pushAsset(ctx context.Context, id string) error {
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
	at := time.Now().UTC()
	doc.Sync = &storage.SyncInfo{Status: "synced", At: at}
	body, err := docJSON(doc)
	if err != nil {
		return permanent(fmt.Errorf("encode asset %s: %w", id, err))
	}
	if _, err := p.uploadBytes(ctx, p.Key(id, "asset.json"), body, "application/json"); err != nil {
		return err
	}
	if _, err := p.cat.UpdateAsset(id, storage.EvAssetSynced, "", func(a *storage.Asset) error {
		a.Sync = &storage.SyncInfo{Status: "synced", At: at}
		return nil
	}); err != nil {
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
	msg := redact.String(cause.Error())
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
	c := crc32.New(castagnoli)
	n, err = io.CopyBuffer(io.MultiWriter(h, c), f, make([]byte, 1<<20))
	return hex.EncodeToString(h.Sum(nil)), c.Sum32(), n, err
}

func crcB64(c uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], c)
	return base64.StdEncoding.EncodeToString(b[:])
}

// uploadFile puts a local file at key unless the bucket already holds the
// same bytes (HEAD: size and BLAKE3 metadata). hint, the file as last
// pushed, spares reading an unchanged file again just to compare.
func (p *Pusher) uploadFile(ctx context.Context, key, file, contentType string, hint *fileSig) (fileSig, error) {
	f, err := os.Open(file)
	if err != nil {
		return fileSig{}, permanent(fmt.Errorf("open %s: %w", file, err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileSig{}, permanent(fmt.Errorf("stat %s: %w", file, err))
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
		return sig, permanent(fmt.Errorf("read %s: %w", file, err))
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

// sameObject HEADs key and compares size and BLAKE3 metadata.
func (p *Pusher) sameObject(ctx context.Context, key string, size int64, b3 string) (bool, error) {
	out, err := p.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &p.cfg.Bucket, Key: &key})
	if err != nil {
		if isNotFound(err) {
			return false, nil
		}
		return false, p.hubError("head "+key, err)
	}
	if aws.ToInt64(out.ContentLength) == size && out.Metadata[metaBLAKE3] == b3 {
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

func (p *Pusher) acquire(ctx context.Context) error { return p.slots.Acquire(ctx) }

func (p *Pusher) release() { p.slots.Release() }

// put sends one object with a CRC32C the server verifies.
func (p *Pusher) put(ctx context.Context, key string, body io.ReadSeeker, size int64, b3 string, crc uint32, contentType string) error {
	if err := p.acquire(ctx); err != nil {
		return err
	}
	defer p.release()
	pr, done := p.track(key, size)
	defer done()
	_, err := p.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:         &p.cfg.Bucket,
		Key:            &key,
		Body:           &limitedReader{ctx: ctx, r: body, lim: p.lim, prog: pr},
		ContentLength:  aws.Int64(size),
		ContentType:    aws.String(contentType),
		ChecksumCRC32C: aws.String(crcB64(crc)),
		Metadata:       map[string]string{metaBLAKE3: b3},
	}, s3.WithAPIOptions(unsignedPayload))
	if err != nil {
		return p.hubError("put "+key, err)
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

// mpuState is the persisted state of a resumable multipart upload.
type mpuState struct {
	Key      string             `json:"key"`
	UploadID string             `json:"upload_id"`
	Size     int64              `json:"size"`
	BLAKE3   string             `json:"blake3"`
	CRC32C   string             `json:"crc32c"` // full object, base64
	PartSize int64              `json:"part_size"`
	Parts    map[int32]partInfo `json:"parts"`
	Started  time.Time          `json:"started"`
}

type partInfo struct {
	ETag   string `json:"etag"`
	CRC32C string `json:"crc32c"`
	Size   int64  `json:"size"`
}

func partBounds(size, partSize int64, n int32) (off, length int64) {
	off = int64(n-1) * partSize
	return off, min(partSize, size-off)
}

func partCRC(f io.ReaderAt, off, n int64) (string, error) {
	c := crc32.New(castagnoli)
	if _, err := io.Copy(c, io.NewSectionReader(f, off, n)); err != nil {
		return "", err
	}
	return crcB64(c.Sum32()), nil
}

// multipart uploads f at key in parts, resuming an earlier upload of the
// same bytes recorded in the catalog: ListParts tells which parts the server
// holds; only the others are sent.
func (p *Pusher) multipart(ctx context.Context, key string, f *os.File, size int64, b3 string, crc uint32, contentType string) error {
	stKey := multipartPfx + key
	var st mpuState
	err := p.cat.GetState(stKey, &st)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("read upload state of %s: %w", key, err)
	}
	if err == nil && (st.Size != size || st.BLAKE3 != b3 || st.PartSize < MinPartSize) {
		p.log.Info("local file changed; abandoning earlier upload", "key", key, "upload_id", st.UploadID)
		p.abort(ctx, key, st.UploadID)
		st = mpuState{}
	}
	if st.UploadID != "" {
		resumed, err := p.reconcile(ctx, f, &st)
		if err != nil {
			return err
		}
		if !resumed {
			st = mpuState{}
		}
	}
	if st.UploadID == "" {
		out, err := p.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
			Bucket:            &p.cfg.Bucket,
			Key:               &key,
			ContentType:       aws.String(contentType),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
			ChecksumType:      types.ChecksumTypeFullObject,
			Metadata:          map[string]string{metaBLAKE3: b3},
		})
		if err != nil {
			return p.hubError("create multipart upload "+key, err)
		}
		st = mpuState{Key: key, UploadID: aws.ToString(out.UploadId), Size: size, BLAKE3: b3, CRC32C: crcB64(crc),
			PartSize: p.cfg.PartSize, Parts: map[int32]partInfo{}, Started: time.Now().UTC()}
		if err := p.cat.PutState(stKey, st); err != nil {
			return fmt.Errorf("record upload state of %s: %w", key, err)
		}
	}
	nparts := int32((size + st.PartSize - 1) / st.PartSize)
	if nparts > 10000 {
		return permanent(fmt.Errorf("%s: %d parts exceed the limit of 10000: raise hub.s3.part_size", key, nparts))
	}
	pr, done := p.track(key, size)
	defer done()
	var have int64
	for _, pi := range st.Parts {
		have += pi.Size
	}
	pr.done.Store(have)

	// Send the missing parts, at most Concurrency at once (shared slots).
	var (
		smu      sync.Mutex
		wg       sync.WaitGroup
		firstErr error
	)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var missing []int32
	for n := int32(1); n <= nparts; n++ {
		if _, ok := st.Parts[n]; !ok {
			missing = append(missing, n)
		}
	}
	for _, n := range missing {
		if err := p.acquire(cctx); err != nil {
			break
		}
		wg.Add(1)
		go func(n int32) {
			defer wg.Done()
			defer p.release()
			pi, err := p.uploadPart(cctx, f, &st, n, pr)
			smu.Lock()
			defer smu.Unlock()
			if err == nil {
				st.Parts[n] = pi
				err = p.cat.PutState(stKey, st)
				if err != nil {
					err = fmt.Errorf("record part %d of %s: %w", n, key, err)
				}
			}
			if err != nil && firstErr == nil {
				firstErr = err
				cancel()
			}
		}(n)
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	parts := make([]types.CompletedPart, 0, len(st.Parts))
	for n, pi := range st.Parts {
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: aws.String(pi.ETag), ChecksumCRC32C: aws.String(pi.CRC32C)})
	}
	sort.Slice(parts, func(i, j int) bool { return *parts[i].PartNumber < *parts[j].PartNumber })
	_, err = p.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          &p.cfg.Bucket,
		Key:             &key,
		UploadId:        aws.String(st.UploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		ChecksumCRC32C:  aws.String(st.CRC32C),
		ChecksumType:    types.ChecksumTypeFullObject,
		MpuObjectSize:   aws.Int64(size),
	})
	if err != nil {
		if isCode(err, "NoSuchUpload") {
			// Completed before a crash, or expired on the server.
			if same, herr := p.sameObject(ctx, key, size, b3); herr == nil && same {
				return p.cat.DeleteState(stKey)
			}
			_ = p.cat.DeleteState(stKey)
			return fmt.Errorf("complete %s: upload %s vanished; starting over: %w", key, st.UploadID, err)
		}
		if isCode(err, "InvalidPart", "BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch", "InvalidRequest") {
			// The server disagrees with our part list or checksum: restart
			// the object from scratch rather than retrying the same request.
			p.abort(ctx, key, st.UploadID)
			_ = p.cat.DeleteState(stKey)
		}
		return p.hubError("complete multipart upload "+key, err)
	}
	// Check the whole object's CRC32C as the server computed it.
	head, err := p.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &p.cfg.Bucket, Key: &key, ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		return p.hubError("head "+key, err)
	}
	if got := aws.ToString(head.ChecksumCRC32C); got != "" && got != st.CRC32C {
		_ = p.cat.DeleteState(stKey)
		return fmt.Errorf("%s: server CRC32C %s, local %s", key, got, st.CRC32C)
	}
	if aws.ToInt64(head.ContentLength) != size {
		_ = p.cat.DeleteState(stKey)
		return fmt.Errorf("%s: server size %d, local %d", key, aws.ToInt64(head.ContentLength), size)
	}
	if err := p.cat.DeleteState(stKey); err != nil {
		return fmt.Errorf("drop upload state of %s: %w", key, err)
	}
	p.log.Debug("multipart upload complete", "key", key, "parts", nparts)
	return nil
}

func (p *Pusher) uploadPart(ctx context.Context, f *os.File, st *mpuState, n int32, pr *progress) (partInfo, error) {
	off, length := partBounds(st.Size, st.PartSize, n)
	crc, err := partCRC(f, off, length)
	if err != nil {
		return partInfo{}, permanent(fmt.Errorf("read %s part %d: %w", f.Name(), n, err))
	}
	out, err := p.client.UploadPart(ctx, &s3.UploadPartInput{
		Bucket:         &p.cfg.Bucket,
		Key:            &st.Key,
		UploadId:       aws.String(st.UploadID),
		PartNumber:     aws.Int32(n),
		Body:           &limitedReader{ctx: ctx, r: io.NewSectionReader(f, off, length), lim: p.lim, prog: pr},
		ContentLength:  aws.Int64(length),
		ChecksumCRC32C: aws.String(crc),
	}, s3.WithAPIOptions(unsignedPayload))
	if err != nil {
		if isCode(err, "NoSuchUpload") {
			_ = p.cat.DeleteState(multipartPfx + st.Key)
		}
		return partInfo{}, p.hubError(fmt.Sprintf("upload %s part %d", st.Key, n), err)
	}
	p.addUploaded(length)
	return partInfo{ETag: aws.ToString(out.ETag), CRC32C: crc, Size: length}, nil
}

// reconcile compares the persisted parts with the server's listing. A part
// counts as done when the server holds it with our size and either our
// recorded ETag or our CRC32C (a part the server got just before a crash,
// not yet recorded). It returns false when the upload is gone (NoSuchUpload).
func (p *Pusher) reconcile(ctx context.Context, f *os.File, st *mpuState) (bool, error) {
	listed := map[int32]types.Part{}
	var marker *string
	for {
		out, err := p.client.ListParts(ctx, &s3.ListPartsInput{Bucket: &p.cfg.Bucket, Key: &st.Key, UploadId: aws.String(st.UploadID), PartNumberMarker: marker})
		if err != nil {
			if isCode(err, "NoSuchUpload") || isNotFound(err) {
				p.log.Info("earlier upload gone; starting over", "key", st.Key, "upload_id", st.UploadID)
				_ = p.cat.DeleteState(multipartPfx + st.Key)
				return false, nil
			}
			return false, p.hubError("list parts of "+st.Key, err)
		}
		for _, lp := range out.Parts {
			listed[aws.ToInt32(lp.PartNumber)] = lp
		}
		if !aws.ToBool(out.IsTruncated) || out.NextPartNumberMarker == nil {
			break
		}
		marker = out.NextPartNumberMarker
	}
	parts := map[int32]partInfo{}
	for n, lp := range listed {
		off, length := partBounds(st.Size, st.PartSize, n)
		if length <= 0 || aws.ToInt64(lp.Size) != length {
			continue
		}
		etag := aws.ToString(lp.ETag)
		if pi, ok := st.Parts[n]; ok && pi.ETag == etag {
			parts[n] = pi
			continue
		}
		if c := aws.ToString(lp.ChecksumCRC32C); c != "" {
			if local, err := partCRC(f, off, length); err == nil && local == c {
				parts[n] = partInfo{ETag: etag, CRC32C: c, Size: length}
			}
		}
	}
	p.log.Info("resuming multipart upload", "key", st.Key, "upload_id", st.UploadID, "parts_done", len(parts), "parts_recorded", len(st.Parts))
	st.Parts = parts
	if err := p.cat.PutState(multipartPfx+st.Key, *st); err != nil {
		return false, fmt.Errorf("record upload state of %s: %w", st.Key, err)
	}
	return true, nil
}

func (p *Pusher) abort(ctx context.Context, key, uploadID string) {
	if uploadID == "" {
		return
	}
	_, err := p.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &p.cfg.Bucket, Key: &key, UploadId: &uploadID})
	if err != nil && !isCode(err, "NoSuchUpload") {
		p.log.Warn("abort multipart upload", "key", key, "upload_id", uploadID, "err", err)
	}
}

// ErrAuth and ErrNoBucket classify hub errors that need an operator.
var (
	ErrAuth     = errors.New("credentials rejected")
	ErrNoBucket = errors.New("bucket does not exist")
)

// hubError wraps an SDK error with what was done and, for errors an
// operator must fix, a clear cause.
func (p *Pusher) hubError(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	switch {
	case isCode(err, "NoSuchBucket"):
		return fmt.Errorf("hub.s3.bucket %q: %w (%s): %w", p.cfg.Bucket, ErrNoBucket, op, err)
	case isCode(err, "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "AccessDenied", "Forbidden", "InvalidClientTokenId"),
		strings.Contains(err.Error(), "failed to retrieve credentials"),
		strings.Contains(err.Error(), "StatusCode: 403"):
		return fmt.Errorf("hub.s3: %w by %s for bucket %q (check the AWS credential chain and bucket policy) (%s): %w", ErrAuth, p.endpointName(), p.cfg.Bucket, op, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return redact.Error(fmt.Errorf("hub timed out at %s (%s; hub.s3.timeout %s, hub.s3.stall_timeout %s): %w",
			p.endpointName(), op, p.cfg.Timeout, p.cfg.StallTimeout, err))
	}
	if errors.As(err, &ne) {
		return redact.Error(fmt.Errorf("hub unreachable at %s (%s): %w", p.endpointName(), op, err))
	}
	return redact.Error(fmt.Errorf("%s: %w", op, err))
}

func (p *Pusher) endpointName() string {
	if p.cfg.Endpoint != "" {
		return redact.URL(p.cfg.Endpoint)
	}
	return "AWS S3 (" + p.cfg.Region + ")"
}

func isCode(err error, codes ...string) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		for _, c := range codes {
			if ae.ErrorCode() == c {
				return true
			}
		}
	}
	return false
}

func isNotFound(err error) bool {
	var nf *types.NotFound
	var nk *types.NoSuchKey
	if errors.As(err, &nf) || errors.As(err, &nk) || isCode(err, "NotFound", "NoSuchKey") {
		return true
	}
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound && !isCode(err, "NoSuchBucket")
}
