package hubstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"time"
)

// MaxClockSkew is the largest difference between our clock and the hub's
// that a probe accepts (S3 refuses requests beyond 15 minutes).
const MaxClockSkew = 5 * time.Minute

// ProbeResult is what Probe measured.
type ProbeResult struct {
	Key  string        // the probe object (deleted again)
	RTT  time.Duration // of the put
	Skew time.Duration // our clock minus the store's, at the middle of the put
	// SkewKnown is false when the store gave no time (no Date header).
	SkewKnown bool
}

// ProbeError is a failed step of Probe: Op is "put", "get" or "delete"
// ("get" also when the bytes read back differ: Err is then
// ErrProbeMismatch).
type ProbeError struct {
	Op  string
	Key string
	Err error
}

func (e *ProbeError) Error() string { return fmt.Sprintf("%s probe %s: %v", e.Op, e.Key, e.Err) }
func (e *ProbeError) Unwrap() error { return e.Err }

// ErrProbeMismatch: the probe object read back differs from what was put.
var ErrProbeMismatch = fmt.Errorf("probe read back differs from what was written")

// Probe is the check shared by doctor and the pusher: it puts a small probe
// object under dir (".ingestd-probe-<random hex>"), reads it back and
// compares the bytes, deletes it, and measures the clock skew against the
// store's time of the put. A failed step returns a *ProbeError wrapping the
// store's error (classified as Store says); the object is deleted whenever
// the put succeeded. It does not judge the skew: callers compare it with
// MaxClockSkew.
func Probe(ctx context.Context, st Store, dir string) (ProbeResult, error) {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	key := path.Join(dir, ".ingestd-probe-"+hex.EncodeToString(rnd[:]))
	r := ProbeResult{Key: key}
	body := []byte("ingestd probe " + time.Now().UTC().Format(time.RFC3339Nano))
	sent := time.Now()
	put, err := st.Put(ctx, key, bytes.NewReader(body), int64(len(body)), PutOptions{ContentType: "text/plain"})
	if err != nil {
		return r, &ProbeError{Op: "put", Key: key, Err: err}
	}
	r.RTT = time.Since(sent)
	if !put.ServerTime.IsZero() {
		r.Skew, r.SkewKnown = sent.Add(r.RTT/2).Sub(put.ServerTime), true
	}
	got, err := readAll(ctx, st, key)
	if err == nil && !bytes.Equal(got, body) {
		err = fmt.Errorf("%w: %d bytes read, %d written", ErrProbeMismatch, len(got), len(body))
	}
	if err != nil {
		_ = st.Delete(context.WithoutCancel(ctx), key)
		return r, &ProbeError{Op: "get", Key: key, Err: err}
	}
	if err := st.Delete(ctx, key); err != nil {
		return r, &ProbeError{Op: "delete", Key: key, Err: err}
	}
	return r, nil
}

func readAll(ctx context.Context, st Store, key string) ([]byte, error) {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
