// Package storetest is the conformance suite of the hubstore.Store
// contract: one set of tests that every implementation runs (the S3 store
// against a real MinIO, the in-memory MemHub), in the manner of restic's
// backend test suite. An implementation's test fills a Suite with
// constructors and calls Run.
//
// It owns nothing but its tests; it must only be imported by tests.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/sync/hubstore"
)

// Suite holds the constructors of one implementation.
type Suite struct {
	// New returns a store on a new, empty bucket, and reopen, which
	// returns a second, independent client of the same bucket (what a
	// restarted process gets).
	New func(t testing.TB) (st hubstore.Store, reopen func() hubstore.Store)
	// NoBucket returns a store whose bucket does not exist.
	NoBucket func(t testing.TB) hubstore.Store
	// BadCredentials returns a store of an existing bucket whose secret
	// is wrong.
	BadCredentials func(t testing.TB) hubstore.Store
	// Unreachable returns a store whose server does not answer.
	Unreachable func(t testing.TB) hubstore.Store
}

// Run runs every Test method of s as a subtest.
func (s *Suite) Run(t *testing.T) {
	v := reflect.ValueOf(s)
	ty := v.Type()
	for i := range ty.NumMethod() {
		m := ty.Method(i)
		if !strings.HasPrefix(m.Name, "Test") {
			continue
		}
		t.Run(strings.TrimPrefix(m.Name, "Test"), func(t *testing.T) {
			v.Method(i).Call([]reflect.Value{reflect.ValueOf(t)})
		})
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Bytes are n pseudo-random bytes from seed.
func Bytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func put(t testing.TB, st hubstore.Store, key string, data []byte, meta map[string]string) {
	t.Helper()
	_, err := st.Put(ctxT(t), key, bytes.NewReader(data), int64(len(data)),
		hubstore.PutOptions{ContentType: "application/octet-stream", Metadata: meta, CRC32C: hubstore.CRC32C(data)})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func get(t testing.TB, st hubstore.Store, key string) []byte {
	t.Helper()
	rc, err := st.Get(ctxT(t), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}

func list(t testing.TB, st hubstore.Store, prefix string) []hubstore.ObjectInfo {
	t.Helper()
	var out []hubstore.ObjectInfo
	if err := st.List(ctxT(t), prefix, func(oi hubstore.ObjectInfo) error { out = append(out, oi); return nil }); err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	return out
}

func keys(ois []hubstore.ObjectInfo) []string {
	ks := make([]string, len(ois))
	for i, o := range ois {
		ks[i] = o.Key
	}
	return ks
}

// wantKind fails unless err is of class kind, and checks Retryable agrees.
func wantKind(t testing.TB, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: error %v, want %v", what, err, kind)
	}
	var he *hubstore.Error
	if !errors.As(err, &he) {
		t.Errorf("%s: %T is not a *hubstore.Error", what, err)
	}
	if got, want := hubstore.Retryable(err), kind == hubstore.ErrUnavailable; got != want {
		t.Errorf("%s: Retryable(%v) = %v, want %v", what, err, got, want)
	}
}

// TestPutStatGet: what Put stores, Stat and Get return; a missing key is
// ErrNotFound.
func (s *Suite) TestPutStatGet(t *testing.T) {
	st, _ := s.New(t)
	data := Bytes(70000, 1)
	put(t, st, "edge/box/assets/a1/proxy.mp4", data, map[string]string{"BLAKE3": "abc123"})
	oi, err := st.Stat(ctxT(t), "edge/box/assets/a1/proxy.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if oi.Size != int64(len(data)) || oi.Metadata["blake3"] != "abc123" || oi.ContentType != "application/octet-stream" {
		t.Errorf("stat: %+v", oi)
	}
	if oi.CRC32C != hubstore.CRC32C(data) {
		t.Errorf("stat CRC32C %q, want %q", oi.CRC32C, hubstore.CRC32C(data))
	}
	if got := get(t, st, "edge/box/assets/a1/proxy.mp4"); !bytes.Equal(got, data) {
		t.Errorf("get: %d bytes that differ from the %d put", len(got), len(data))
	}
	_, err = st.Stat(ctxT(t), "edge/box/assets/a1/none")
	wantKind(t, "stat of a missing key", err, hubstore.ErrNotFound)
	_, err = st.Get(ctxT(t), "edge/box/assets/a1/none")
	wantKind(t, "get of a missing key", err, hubstore.ErrNotFound)
}

// TestPutIdempotent: the same key and bytes twice leave one, equal object.
func (s *Suite) TestPutIdempotent(t *testing.T) {
	st, _ := s.New(t)
	data := Bytes(4096, 2)
	put(t, st, "k/doc.json", data, map[string]string{"blake3": "x"})
	first, err := st.Stat(ctxT(t), "k/doc.json")
	if err != nil {
		t.Fatal(err)
	}
	put(t, st, "k/doc.json", data, map[string]string{"blake3": "x"})
	second, err := st.Stat(ctxT(t), "k/doc.json")
	if err != nil {
		t.Fatal(err)
	}
	if first.Size != second.Size || first.ETag != second.ETag || second.Metadata["blake3"] != "x" {
		t.Errorf("second put changed the object: %+v then %+v", first, second)
	}
	if ks := keys(list(t, st, "k/")); len(ks) != 1 {
		t.Errorf("list after two puts: %q", ks)
	}
	if got := get(t, st, "k/doc.json"); !bytes.Equal(got, data) {
		t.Error("bytes differ after the second put")
	}
}

// TestOverwrite: a Put replaces the object, metadata included.
func (s *Suite) TestOverwrite(t *testing.T) {
	st, _ := s.New(t)
	put(t, st, "k/a", Bytes(5000, 3), map[string]string{"blake3": "old"})
	nu := Bytes(1200, 4)
	put(t, st, "k/a", nu, map[string]string{"blake3": "new"})
	oi, err := st.Stat(ctxT(t), "k/a")
	if err != nil {
		t.Fatal(err)
	}
	if oi.Size != int64(len(nu)) || oi.Metadata["blake3"] != "new" {
		t.Errorf("after overwrite: %+v", oi)
	}
	if got := get(t, st, "k/a"); !bytes.Equal(got, nu) {
		t.Error("old bytes after overwrite")
	}
}

// TestChecksum: bytes that do not match their CRC32C are refused and the
// object at the key is left as it was.
func (s *Suite) TestChecksum(t *testing.T) {
	st, _ := s.New(t)
	old := Bytes(3000, 5)
	put(t, st, "k/c", old, nil)
	bad := Bytes(3000, 6)
	_, err := st.Put(ctxT(t), "k/c", bytes.NewReader(bad), int64(len(bad)), hubstore.PutOptions{CRC32C: hubstore.CRC32C(old)})
	wantKind(t, "put with a wrong CRC32C", err, hubstore.ErrChecksum)
	if got := get(t, st, "k/c"); !bytes.Equal(got, old) {
		t.Error("a refused put changed the object")
	}
	_, err = st.Put(ctxT(t), "k/new", bytes.NewReader(bad), int64(len(bad)), hubstore.PutOptions{CRC32C: hubstore.CRC32C(old)})
	wantKind(t, "put with a wrong CRC32C", err, hubstore.ErrChecksum)
	_, err = st.Stat(ctxT(t), "k/new")
	wantKind(t, "stat after a refused put", err, hubstore.ErrNotFound)
}

// TestListDelete: List by prefix in key order, stopping at fn's error;
// Delete removes, and deleting a missing key is fine.
func (s *Suite) TestListDelete(t *testing.T) {
	st, _ := s.New(t)
	for i, k := range []string{"p/b/3", "p/1", "p/2", "pq/4", "q/5"} {
		put(t, st, k, Bytes(100+i, uint64(10+i)), nil)
	}
	got := list(t, st, "p/")
	if ks := strings.Join(keys(got), ","); ks != "p/1,p/2,p/b/3" {
		t.Errorf("list p/: %s", ks)
	}
	if got[0].Size != 101 || got[2].Size != 100 {
		t.Errorf("listed sizes %d %d", got[0].Size, got[2].Size)
	}
	if n := len(list(t, st, "")); n != 5 {
		t.Errorf("list of everything: %d objects", n)
	}
	stop := errors.New("enough")
	n := 0
	err := st.List(ctxT(t), "", func(hubstore.ObjectInfo) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("List returned %v after %d calls; want fn's error after 1", err, n)
	}
	if err := st.Delete(ctxT(t), "p/2"); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctxT(t), "p/2"); err != nil {
		t.Errorf("deleting a missing key: %v", err)
	}
	if ks := strings.Join(keys(list(t, st, "p/")), ","); ks != "p/1,p/b/3" {
		t.Errorf("list after delete: %s", ks)
	}
}

// upload sends parts (1-based numbers in the given order) of data cut at
// hubstore.MinPartSize.
func uploadParts(t testing.TB, st hubstore.Store, key, id string, data []byte, nums ...int32) map[int32]hubstore.Part {
	t.Helper()
	ps := map[int32]hubstore.Part{}
	for _, n := range nums {
		b := partOf(data, n)
		p, err := st.UploadPart(ctxT(t), key, id, n, bytes.NewReader(b), int64(len(b)), hubstore.CRC32C(b))
		if err != nil {
			t.Fatalf("upload part %d: %v", n, err)
		}
		if p.Number != n || p.Size != int64(len(b)) || p.ETag == "" {
			t.Errorf("part %d: %+v", n, p)
		}
		ps[n] = p
	}
	return ps
}

func partOf(data []byte, n int32) []byte {
	off := int(n-1) * hubstore.MinPartSize
	return data[off:min(off+hubstore.MinPartSize, len(data))]
}

func ordered(ps map[int32]hubstore.Part) []hubstore.Part {
	out := make([]hubstore.Part, 0, len(ps))
	for n := int32(1); len(out) < len(ps); n++ {
		if p, ok := ps[n]; ok {
			out = append(out, p)
		}
	}
	return out
}

// TestMultipart: a large object in three parts sent out of order; the
// listing, the assembled bytes, the metadata and the whole-object CRC32C.
func (s *Suite) TestMultipart(t *testing.T) {
	st, _ := s.New(t)
	data := Bytes(2*hubstore.MinPartSize+12345, 7)
	const key = "edge/box/assets/a2/proxy.mp4"
	id, err := st.CreateUpload(ctxT(t), key, hubstore.PutOptions{ContentType: "video/mp4", Metadata: map[string]string{"blake3": "b3"}})
	if err != nil {
		t.Fatal(err)
	}
	ps := uploadParts(t, st, key, id, data, 3, 1, 2)
	listed, err := st.ListParts(ctxT(t), key, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 3 {
		t.Fatalf("listed %d parts, want 3", len(listed))
	}
	for i, p := range listed {
		want := ps[int32(i+1)]
		if p.Number != int32(i+1) || p.Size != want.Size || p.ETag != want.ETag || p.CRC32C != want.CRC32C {
			t.Errorf("listed part %d: %+v, uploaded %+v", i+1, p, want)
		}
	}
	if _, err := st.Stat(ctxT(t), key); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("object visible before completion: %v", err)
	}
	if err := st.CompleteUpload(ctxT(t), key, id, ordered(ps), hubstore.CompleteOptions{CRC32C: hubstore.CRC32C(data), Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	oi, err := st.Stat(ctxT(t), key)
	if err != nil {
		t.Fatal(err)
	}
	if oi.Size != int64(len(data)) || oi.Metadata["blake3"] != "b3" || oi.ContentType != "video/mp4" || oi.CRC32C != hubstore.CRC32C(data) {
		t.Errorf("completed object: %+v (want CRC32C %s)", oi, hubstore.CRC32C(data))
	}
	if got := get(t, st, key); !bytes.Equal(got, data) {
		t.Error("assembled bytes differ")
	}
	_, err = st.ListParts(ctxT(t), key, id)
	wantKind(t, "list parts of a completed upload", err, hubstore.ErrNoSuchUpload)
	err = st.CompleteUpload(ctxT(t), key, id, ordered(ps), hubstore.CompleteOptions{})
	wantKind(t, "complete twice", err, hubstore.ErrNoSuchUpload)
}

// TestMultipartRejected: part lists the store disagrees with fail with
// ErrUploadRejected; Abort ends the upload (twice is fine).
func (s *Suite) TestMultipartRejected(t *testing.T) {
	st, _ := s.New(t)
	const key = "k/mp"
	data := Bytes(hubstore.MinPartSize+1000, 8)
	id, err := st.CreateUpload(ctxT(t), key, hubstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ps := uploadParts(t, st, key, id, data, 1, 2)
	bad := ordered(ps)
	bad[1].ETag = `"00000000000000000000000000000000"`
	err = st.CompleteUpload(ctxT(t), key, id, bad, hubstore.CompleteOptions{})
	wantKind(t, "complete with an unknown ETag", err, hubstore.ErrUploadRejected)
	err = st.CompleteUpload(ctxT(t), key, id, ordered(ps), hubstore.CompleteOptions{CRC32C: hubstore.CRC32C(data[1:])})
	wantKind(t, "complete with a wrong whole-object CRC32C", err, hubstore.ErrUploadRejected)

	// A part below MinPartSize that is not the last.
	small := Bytes(1<<20, 9)
	id2, err := st.CreateUpload(ctxT(t), key+"2", hubstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var parts []hubstore.Part
	for n := int32(1); n <= 2; n++ {
		p, err := st.UploadPart(ctxT(t), key+"2", id2, n, bytes.NewReader(small), int64(len(small)), hubstore.CRC32C(small))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	err = st.CompleteUpload(ctxT(t), key+"2", id2, parts, hubstore.CompleteOptions{})
	wantKind(t, "complete with a small first part", err, hubstore.ErrUploadRejected)

	for _, u := range []struct{ key, id string }{{key, id}, {key + "2", id2}} {
		if err := st.AbortUpload(ctxT(t), u.key, u.id); err != nil {
			t.Fatalf("abort: %v", err)
		}
		_, err = st.ListParts(ctxT(t), u.key, u.id)
		wantKind(t, "list parts of an aborted upload", err, hubstore.ErrNoSuchUpload)
		b := small[:100]
		_, err = st.UploadPart(ctxT(t), u.key, u.id, 3, bytes.NewReader(b), int64(len(b)), hubstore.CRC32C(b))
		wantKind(t, "upload part to an aborted upload", err, hubstore.ErrNoSuchUpload)
		if err := st.AbortUpload(ctxT(t), u.key, u.id); err != nil {
			t.Errorf("aborting twice: %v", err)
		}
	}
	if n := len(list(t, st, "")); n != 0 {
		t.Errorf("%d objects after rejected uploads", n)
	}
}

// blockingBody returns its first n bytes, then blocks until ctx ends (a
// connection cut mid-body), signalling reached.
type blockingBody struct {
	ctx     context.Context
	r       *bytes.Reader
	n       int64
	reached chan struct{}
	once    bool
}

func newBlockingBody(ctx context.Context, data []byte, n int64) *blockingBody {
	return &blockingBody{ctx: ctx, r: bytes.NewReader(data), n: n, reached: make(chan struct{})}
}

func (b *blockingBody) Read(p []byte) (int, error) {
	pos := b.r.Size() - int64(b.r.Len())
	if pos >= b.n {
		if !b.once {
			b.once = true
			close(b.reached)
		}
		<-b.ctx.Done()
		return 0, b.ctx.Err()
	}
	if int64(len(p)) > b.n-pos {
		p = p[:b.n-pos]
	}
	return b.r.Read(p)
}

func (b *blockingBody) Seek(off int64, whence int) (int64, error) { return b.r.Seek(off, whence) }

// interrupt runs send with a body cut after half of data, cancels its
// context once the store has read that far, and checks the call returns
// promptly with the context's error.
func interrupt(t testing.TB, data []byte, send func(ctx context.Context, body io.ReadSeeker) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	body := newBlockingBody(ctx, data, int64(len(data)/2))
	done := make(chan error, 1)
	go func() { done <- send(ctx, body) }()
	select {
	case <-body.reached:
	case err := <-done:
		t.Fatalf("call ended before the body was half read: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the store did not read half of the body within a minute")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled call: %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the call did not return within 30s of cancellation")
	}
}

// TestCancel: a cancelled context fails a call before it starts and stops
// one in the middle of its body, leaving no object.
func (s *Suite) TestCancel(t *testing.T) {
	st, _ := s.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := st.Put(ctx, "k/x", bytes.NewReader([]byte("x")), 1, hubstore.PutOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("put with a cancelled context: %v", err)
	}
	if _, err := st.Stat(ctx, "k/x"); !errors.Is(err, context.Canceled) {
		t.Errorf("stat with a cancelled context: %v", err)
	}
	data := Bytes(4<<20, 11)
	interrupt(t, data, func(ctx context.Context, body io.ReadSeeker) error {
		_, err := st.Put(ctx, "k/big", body, int64(len(data)), hubstore.PutOptions{CRC32C: hubstore.CRC32C(data)})
		return err
	})
	_, err = st.Stat(ctxT(t), "k/big")
	wantKind(t, "stat after a cancelled put", err, hubstore.ErrNotFound)
}

// TestResume: an upload interrupted in the middle of a part is continued by
// a second client (a restart) from the recorded upload id: ListParts shows
// the finished parts only, the others are sent, and the object completes.
func (s *Suite) TestResume(t *testing.T) {
	st, reopen := s.New(t)
	data := Bytes(2*hubstore.MinPartSize+777, 12)
	const key = "edge/box/assets/a3/proxy.mp4"
	full := hubstore.CRC32C(data)
	id, err := st.CreateUpload(ctxT(t), key, hubstore.PutOptions{ContentType: "video/mp4", Metadata: map[string]string{"blake3": "r"}})
	if err != nil {
		t.Fatal(err)
	}
	done := uploadParts(t, st, key, id, data, 1)
	p2 := partOf(data, 2)
	interrupt(t, p2, func(ctx context.Context, body io.ReadSeeker) error {
		_, err := st.UploadPart(ctx, key, id, 2, body, int64(len(p2)), hubstore.CRC32C(p2))
		return err
	})

	st2 := reopen()
	listed, err := st2.ListParts(ctxT(t), key, id)
	if err != nil {
		t.Fatalf("list parts after the interruption: %v", err)
	}
	if len(listed) != 1 || listed[0].Number != 1 || listed[0].Size != int64(hubstore.MinPartSize) ||
		listed[0].ETag != done[1].ETag || listed[0].CRC32C != hubstore.CRC32C(partOf(data, 1)) {
		t.Fatalf("parts after the interruption: %+v; want part 1 only, as sent", listed)
	}
	for n, p := range uploadParts(t, st2, key, id, data, 2, 3) {
		done[n] = p
	}
	if err := st2.CompleteUpload(ctxT(t), key, id, ordered(done), hubstore.CompleteOptions{CRC32C: full, Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	if got := get(t, st2, key); !bytes.Equal(got, data) {
		t.Error("resumed object differs")
	}
	oi, err := st2.Stat(ctxT(t), key)
	if err != nil || oi.CRC32C != full || oi.Metadata["blake3"] != "r" {
		t.Errorf("resumed object: %+v, %v", oi, err)
	}
}

// TestPermanentErrors: a missing bucket and rejected credentials are
// permanent (ErrNoBucket, ErrAuth), an unreachable server is retryable
// (ErrUnavailable).
func (s *Suite) TestPermanentErrors(t *testing.T) {
	body := []byte("probe")
	putErr := func(st hubstore.Store) error {
		_, err := st.Put(ctxT(t), "k/p", bytes.NewReader(body), int64(len(body)), hubstore.PutOptions{CRC32C: hubstore.CRC32C(body)})
		return err
	}
	t.Run("no bucket", func(t *testing.T) {
		st := s.NoBucket(t)
		wantKind(t, "put", putErr(st), hubstore.ErrNoBucket)
		wantKind(t, "list", st.List(ctxT(t), "", func(hubstore.ObjectInfo) error { return nil }), hubstore.ErrNoBucket)
		_, err := st.CreateUpload(ctxT(t), "k/p", hubstore.PutOptions{})
		wantKind(t, "create upload", err, hubstore.ErrNoBucket)
	})
	t.Run("bad credentials", func(t *testing.T) {
		st := s.BadCredentials(t)
		wantKind(t, "put", putErr(st), hubstore.ErrAuth)
		_, err := st.Stat(ctxT(t), "k/p")
		wantKind(t, "stat", err, hubstore.ErrAuth)
		_, err = st.CreateUpload(ctxT(t), "k/p", hubstore.PutOptions{})
		wantKind(t, "create upload", err, hubstore.ErrAuth)
	})
	t.Run("unreachable", func(t *testing.T) {
		st := s.Unreachable(t)
		wantKind(t, "put", putErr(st), hubstore.ErrUnavailable)
		_, err := st.Stat(ctxT(t), "k/p")
		wantKind(t, "stat", err, hubstore.ErrUnavailable)
	})
}

// TestProbe: the shared probe passes on a working store, leaves nothing,
// measures the clock, and reports the failing step on a broken one.
func (s *Suite) TestProbe(t *testing.T) {
	st, _ := s.New(t)
	r, err := hubstore.Probe(ctxT(t), st, "edge/box")
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	if !strings.HasPrefix(r.Key, "edge/box/.ingestd-probe-") {
		t.Errorf("probe key %q", r.Key)
	}
	if !r.SkewKnown || r.Skew > hubstore.MaxClockSkew || r.Skew < -hubstore.MaxClockSkew {
		t.Errorf("skew %s (known %v) against a store on this machine", r.Skew, r.SkewKnown)
	}
	if ks := keys(list(t, st, "")); len(ks) != 0 {
		t.Errorf("probe left %q", ks)
	}
	_, err = hubstore.Probe(ctxT(t), s.NoBucket(t), "edge/box")
	var pe *hubstore.ProbeError
	if !errors.As(err, &pe) || pe.Op != "put" || !errors.Is(err, hubstore.ErrNoBucket) {
		t.Errorf("probe of a missing bucket: %v", err)
	}
}
