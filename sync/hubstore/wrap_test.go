package hubstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// Retry tries a retryable failure up to Attempts times, rewinding the body,
// tells Observe of every failed try, and gives up at once on a permanent
// error.
func TestRetry(t *testing.T) {
	h := NewMemHub("k", "s")
	h.CreateBucket("b")
	h.Down()
	var seen []string
	st := Retry(h.Store("b", "k", "s"), RetryOptions{Attempts: 3, Min: time.Millisecond, Max: 4 * time.Millisecond,
		Observe: func(op string, err error) { seen = append(seen, op) }})
	data := []byte("hello hub")
	_, err := st.Put(context.Background(), "a", bytes.NewReader(data), int64(len(data)), PutOptions{})
	if !errors.Is(err, ErrUnavailable) || len(seen) != 3 {
		t.Fatalf("outage: %v after %d tries (%q), want ErrUnavailable after 3", err, len(seen), seen)
	}

	// The hub comes back after the first failure: the second try stores
	// the object.
	seen = nil
	st = Retry(h.Store("b", "k", "s"), RetryOptions{Attempts: 3, Min: time.Millisecond, Max: 4 * time.Millisecond,
		Observe: func(op string, err error) { seen = append(seen, op); h.Up() }})
	if _, err := st.Put(context.Background(), "a", bytes.NewReader(data), int64(len(data)), PutOptions{CRC32C: CRC32C(data)}); err != nil || len(seen) != 1 {
		t.Fatalf("put across a short outage: %v after %d failed tries, want success after 1", err, len(seen))
	}
	if got, err := readAll(context.Background(), h.Store("b", "k", "s"), "a"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after recovery: %q, %v", got, err)
	}

	// Permanent: one try.
	seen = nil
	st = Retry(h.Store("b", "k", "wrong"), RetryOptions{Attempts: 3, Min: time.Millisecond, Observe: func(op string, err error) { seen = append(seen, op) }})
	if _, err := st.Stat(context.Background(), "a"); !errors.Is(err, ErrAuth) || len(seen) != 1 {
		t.Fatalf("bad credentials: %v after %d tries, want ErrAuth after 1", err, len(seen))
	}

	// A cancelled context ends the waiting.
	h.Down()
	ctx, cancel := context.WithCancel(context.Background())
	st = Retry(h.Store("b", "k", "s"), RetryOptions{Attempts: 5, Min: time.Hour, Observe: func(string, error) { cancel() }})
	t0 := time.Now()
	if _, err := st.Stat(ctx, "a"); !errors.Is(err, ErrUnavailable) || time.Since(t0) > 10*time.Second {
		t.Fatalf("cancel during backoff: %v after %s", err, time.Since(t0))
	}
}

// Limit charges every body byte of Put and UploadPart to the limiter, and
// each try of a retried Put again.
func TestLimit(t *testing.T) {
	h := NewMemHub("k", "s")
	h.CreateBucket("b")
	lim := NewLimiter(Schedule{}, nil)
	st := Limit(h.Store("b", "k", "s"), lim)
	data := bytes.Repeat([]byte("0123456789abcdef"), 300<<6)
	if _, err := st.Put(context.Background(), "a", bytes.NewReader(data), int64(len(data)), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	id, err := st.CreateUpload(context.Background(), "m", PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.UploadPart(context.Background(), "m", id, 1, bytes.NewReader(data[:1000]), 1000, ""); err != nil {
		t.Fatal(err)
	}
	if g := lim.Granted(); g != int64(len(data))+1000 {
		t.Fatalf("granted %d, want %d", g, len(data)+1000)
	}
	// A try that fails after reading the body, then a good one.
	fails := 1
	st = Retry(Limit(&failAfterRead{Store: h.Store("b", "k", "s"), fails: &fails}, lim), RetryOptions{Min: time.Millisecond})
	if _, err := st.Put(context.Background(), "a", bytes.NewReader(data), int64(len(data)), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if g := lim.Granted(); g != 3*int64(len(data))+1000 {
		t.Fatalf("granted %d after a retried put, want %d", g, 3*len(data)+1000)
	}
	// The second try read the body from its start (Retry rewound it).
	if got, err := readAll(context.Background(), h.Store("b", "k", "s"), "a"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("retried put stored %d bytes, %v", len(got), err)
	}
}

// failAfterRead reads a Put's whole body, then fails as a reset connection
// would, *fails times.
type failAfterRead struct {
	Store
	fails *int
}

func (f *failAfterRead) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, o PutOptions) (PutResult, error) {
	if *f.fails > 0 {
		*f.fails--
		_, _ = io.Copy(io.Discard, body)
		return PutResult{}, &Error{Op: "put", Key: key, Kind: ErrUnavailable, Msg: "injected reset"}
	}
	return f.Store.Put(ctx, key, body, size, o)
}
