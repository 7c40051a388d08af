package hubstore

import (
	"context"
	"io"
	"time"

	"github.com/ingestd/ingestd/internal/backoff"
)

// RetryOptions configure Retry.
type RetryOptions struct {
	// Attempts is the most tries of one call (default 3).
	Attempts int
	// Min and Max bound the wait between tries: backoff.Jitter(Min, Max,
	// n-1) after the n-th failure (defaults 1s and 20s, about what
	// aws-sdk-go-v2's own retryer waits).
	Min, Max time.Duration
	// Observe, when set, is told of every failed try (the last one
	// included) while the caller's context is live: op is the Store
	// method, e.g. "UploadPart".
	Observe func(op string, err error)
}

// Retry returns st with every call tried up to o.Attempts times while it
// fails with a Retryable error (ErrUnavailable) and ctx lives, waiting a
// jittered exponential backoff in between. Permanent errors return at once.
// A body is rewound (Seek to its start) before it is sent again. Retrying is
// safe because every Store call may run twice (see Store); CompleteUpload
// retried after a lost answer may then fail with ErrNoSuchUpload, which the
// contract tells the caller to check with Stat.
func Retry(st Store, o RetryOptions) Store {
	if o.Attempts < 1 {
		o.Attempts = 3
	}
	if o.Min <= 0 {
		o.Min = time.Second
	}
	if o.Max < o.Min {
		o.Max = max(o.Min, 20*time.Second)
	}
	return &retrying{st: st, o: o}
}

type retrying struct {
	st Store
	o  RetryOptions
}

// do runs f until it succeeds, fails for good, or the tries run out.
func (r *retrying) do(ctx context.Context, op string, body io.Seeker, f func() error) error {
	for n := 1; ; n++ {
		if n > 1 && body != nil {
			if _, err := body.Seek(0, io.SeekStart); err != nil {
				return err
			}
		}
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if r.o.Observe != nil {
			r.o.Observe(op, err)
		}
		if !Retryable(err) || n >= r.o.Attempts || !backoff.Sleep(ctx, backoff.Jitter(r.o.Min, r.o.Max, n-1)) {
			return err
		}
	}
}

func (r *retrying) Stat(ctx context.Context, key string) (oi ObjectInfo, err error) {
	err = r.do(ctx, "Stat", nil, func() (e error) { oi, e = r.st.Stat(ctx, key); return })
	return
}

func (r *retrying) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, o PutOptions) (pr PutResult, err error) {
	err = r.do(ctx, "Put", body, func() (e error) { pr, e = r.st.Put(ctx, key, body, size, o); return })
	return
}

func (r *retrying) Get(ctx context.Context, key string) (rc io.ReadCloser, err error) {
	err = r.do(ctx, "Get", nil, func() (e error) { rc, e = r.st.Get(ctx, key); return })
	return
}

func (r *retrying) Delete(ctx context.Context, key string) error {
	return r.do(ctx, "Delete", nil, func() error { return r.st.Delete(ctx, key) })
}

// List restarts from the beginning after a failure; objects fn already saw
// are not passed again.
func (r *retrying) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	last, seen := "", false
	var fnErr error
	err := r.do(ctx, "List", nil, func() error {
		return r.st.List(ctx, prefix, func(oi ObjectInfo) error {
			if seen && oi.Key <= last {
				return nil
			}
			if fnErr = fn(oi); fnErr != nil {
				return fnErr
			}
			last, seen = oi.Key, true
			return nil
		})
	})
	if fnErr != nil {
		return fnErr
	}
	return err
}

func (r *retrying) CreateUpload(ctx context.Context, key string, o PutOptions) (id string, err error) {
	err = r.do(ctx, "CreateUpload", nil, func() (e error) { id, e = r.st.CreateUpload(ctx, key, o); return })
	return
}

func (r *retrying) UploadPart(ctx context.Context, key, uploadID string, n int32, body io.ReadSeeker, size int64, crc string) (p Part, err error) {
	err = r.do(ctx, "UploadPart", body, func() (e error) { p, e = r.st.UploadPart(ctx, key, uploadID, n, body, size, crc); return })
	return
}

func (r *retrying) ListParts(ctx context.Context, key, uploadID string) (ps []Part, err error) {
	err = r.do(ctx, "ListParts", nil, func() (e error) { ps, e = r.st.ListParts(ctx, key, uploadID); return })
	return
}

func (r *retrying) CompleteUpload(ctx context.Context, key, uploadID string, parts []Part, o CompleteOptions) error {
	return r.do(ctx, "CompleteUpload", nil, func() error { return r.st.CompleteUpload(ctx, key, uploadID, parts, o) })
}

func (r *retrying) AbortUpload(ctx context.Context, key, uploadID string) error {
	return r.do(ctx, "AbortUpload", nil, func() error { return r.st.AbortUpload(ctx, key, uploadID) })
}
