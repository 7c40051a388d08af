package s3push

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/sync/hubstore"
)

// mpuState is the persisted state of a resumable multipart upload (catalog
// state multipartPfx + key): the upload id hubstore.Store.CreateUpload
// returned and each part sent, so that a restart continues the upload.
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
	c := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	if _, err := io.Copy(c, io.NewSectionReader(f, off, n)); err != nil {
		return "", err
	}
	return hubstore.EncodeCRC32C(c.Sum32()), nil
}

// multipart uploads f at key in parts, resuming an earlier upload of the
// same bytes recorded in the catalog: ListParts tells which parts the store
// holds; only the others are sent (the resume rules of hubstore.Store).
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
		id, err := p.store.CreateUpload(ctx, key, hubstore.PutOptions{ContentType: contentType, Metadata: map[string]string{metaBLAKE3: b3}})
		if err != nil {
			return err
		}
		st = mpuState{Key: key, UploadID: id, Size: size, BLAKE3: b3, CRC32C: hubstore.EncodeCRC32C(crc),
			PartSize: p.cfg.PartSize, Parts: map[int32]partInfo{}, Started: time.Now().UTC()}
		if err := p.cat.PutState(stKey, st); err != nil {
			return fmt.Errorf("record upload state of %s: %w", key, err)
		}
	}
	nparts := int32((size + st.PartSize - 1) / st.PartSize)
	if nparts > hubstore.MaxParts {
		return permanent(fmt.Errorf("%s: %d parts exceed the limit of %d: raise hub.s3.part_size", key, nparts, hubstore.MaxParts))
	}
	pr, done := p.track(key, size)
	defer done()
	var have int64
	for _, pi := range st.Parts {
		have += pi.Size
	}
	pr.done.Store(have)
	if err := p.sendParts(ctx, f, &st, nparts, pr); err != nil {
		return err
	}
	parts := make([]hubstore.Part, 0, len(st.Parts))
	for n, pi := range st.Parts {
		parts = append(parts, hubstore.Part{Number: n, ETag: pi.ETag, CRC32C: pi.CRC32C})
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Number < parts[j].Number })
	err = p.store.CompleteUpload(ctx, key, st.UploadID, parts, hubstore.CompleteOptions{CRC32C: st.CRC32C, Size: size})
	switch {
	case errors.Is(err, hubstore.ErrNoSuchUpload):
		// Completed before a crash, or expired on the server.
		if same, herr := p.sameObject(ctx, key, size, b3); herr == nil && same {
			return p.cat.DeleteState(stKey)
		}
		_ = p.cat.DeleteState(stKey)
		return fmt.Errorf("complete %s: upload %s vanished; starting over: %w", key, st.UploadID, err)
	case errors.Is(err, hubstore.ErrUploadRejected), errors.Is(err, hubstore.ErrChecksum):
		// The store disagrees with our part list or checksum: restart the
		// object from scratch rather than retrying the same request.
		p.abort(ctx, key, st.UploadID)
		_ = p.cat.DeleteState(stKey)
		return err
	case err != nil:
		return err
	}
	// Check the whole object's CRC32C as the store computed it.
	oi, err := p.store.Stat(ctx, key)
	if err != nil {
		return err
	}
	if oi.CRC32C != "" && oi.CRC32C != st.CRC32C {
		_ = p.cat.DeleteState(stKey)
		return fmt.Errorf("%s: server CRC32C %s, local %s", key, oi.CRC32C, st.CRC32C)
	}
	if oi.Size != size {
		_ = p.cat.DeleteState(stKey)
		return fmt.Errorf("%s: server size %d, local %d", key, oi.Size, size)
	}
	if err := p.cat.DeleteState(stKey); err != nil {
		return fmt.Errorf("drop upload state of %s: %w", key, err)
	}
	p.log.Debug("multipart upload complete", "key", key, "parts", nparts)
	return nil
}

// sendParts sends the parts st lacks, at most Concurrency at once (shared
// slots), recording each in the catalog as it lands.
func (p *Pusher) sendParts(ctx context.Context, f *os.File, st *mpuState, nparts int32, pr *progress) error {
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
		if err := p.slots.Acquire(cctx); err != nil {
			break
		}
		wg.Add(1)
		go func(n int32) {
			defer wg.Done()
			defer p.slots.Release()
			pi, err := p.uploadPart(cctx, f, st, n, pr)
			smu.Lock()
			defer smu.Unlock()
			if err == nil {
				st.Parts[n] = pi
				err = p.cat.PutState(multipartPfx+st.Key, *st)
				if err != nil {
					err = fmt.Errorf("record part %d of %s: %w", n, st.Key, err)
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
	return ctx.Err()
}

func (p *Pusher) uploadPart(ctx context.Context, f *os.File, st *mpuState, n int32, pr *progress) (partInfo, error) {
	off, length := partBounds(st.Size, st.PartSize, n)
	crc, err := partCRC(f, off, length)
	if err != nil {
		return partInfo{}, permanent(fmt.Errorf("read %s part %d: %w", f.Name(), n, err))
	}
	part, err := p.store.UploadPart(ctx, st.Key, st.UploadID, n, &progressReader{r: io.NewSectionReader(f, off, length), prog: pr}, length, crc)
	if err != nil {
		if errors.Is(err, hubstore.ErrNoSuchUpload) {
			_ = p.cat.DeleteState(multipartPfx + st.Key)
		}
		return partInfo{}, err
	}
	p.addUploaded(length)
	return partInfo{ETag: part.ETag, CRC32C: crc, Size: length}, nil
}

// reconcile compares the persisted parts with the store's listing. A part
// counts as done when the store holds it with our size and either our
// recorded ETag or our CRC32C (a part the store got just before a crash,
// not yet recorded). It returns false when the upload is gone.
func (p *Pusher) reconcile(ctx context.Context, f *os.File, st *mpuState) (bool, error) {
	listed, err := p.store.ListParts(ctx, st.Key, st.UploadID)
	if errors.Is(err, hubstore.ErrNoSuchUpload) || errors.Is(err, hubstore.ErrNotFound) {
		p.log.Info("earlier upload gone; starting over", "key", st.Key, "upload_id", st.UploadID)
		_ = p.cat.DeleteState(multipartPfx + st.Key)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	parts := map[int32]partInfo{}
	for _, lp := range listed {
		off, length := partBounds(st.Size, st.PartSize, lp.Number)
		if length <= 0 || lp.Size != length {
			continue
		}
		if pi, ok := st.Parts[lp.Number]; ok && pi.ETag == lp.ETag {
			parts[lp.Number] = pi
			continue
		}
		if lp.CRC32C != "" {
			if local, err := partCRC(f, off, length); err == nil && local == lp.CRC32C {
				parts[lp.Number] = partInfo{ETag: lp.ETag, CRC32C: lp.CRC32C, Size: length}
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
	if err := p.store.AbortUpload(ctx, key, uploadID); err != nil {
		p.log.Warn("abort multipart upload", "key", key, "upload_id", uploadID, "err", err)
	}
}
