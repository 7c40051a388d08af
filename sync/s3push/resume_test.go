package s3push

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/sync/hubstore"
)

const childEnv = "INGESTD_S3PUSH_CHILD" // catalog dir | state dir | endpoint

// runChild is the uploader process killed with SIGKILL by the parent test:
// a pusher at 4 MiB/s so that the parent catches it mid-upload.
func runChild(t *testing.T, spec string) {
	f := strings.Split(spec, "|")
	cat := catalogtest.Open(t, f[0])
	cfg := Config{Endpoint: f[2], Region: "us-east-1", Bucket: testBucket, Prefix: "edge", PathStyle: true,
		PartSize: MinPartSize, MultipartThreshold: MinPartSize, RetryMin: 100 * time.Millisecond, RetryMax: time.Second,
		Bandwidth: []Window{{From: "00:00", To: "00:00", Rate: "4MiB/s"}}}
	cfg.SetDefaults()
	p, err := New(cfg, testApp, f[1], cat, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer cancel()
	_ = p.Run(ctx)
}

// kill -9 in the middle of a multipart upload, then restart: the parts the
// server already holds (MinIO's own ListParts) are not sent again.
func TestResumeAfterKill(t *testing.T) {
	if spec := os.Getenv(childEnv); spec != "" {
		runChild(t, spec)
		return
	}
	e := newEnv(t)
	size := 40<<20 + 12345 // 9 parts of 5 MiB
	const nparts = 9
	data := randBytes(size, 7)
	id := e.asset("A002/C010.mxf", map[string][]byte{"proxy.mp4": data, "poster.jpg": randBytes(3000, 8)})
	key := keyFor(id, "proxy.mp4")
	e.cat.Close()
	e.cat = nil

	child := exec.Command(os.Args[0], "-test.run=^TestResumeAfterKill$", "-test.count=1")
	child.Env = append(os.Environ(), childEnv+"="+e.catDir+"|"+e.stateDir+"|"+e.srv.Endpoint)
	child.Stdout, child.Stderr = os.Stderr, os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	childDone := make(chan struct{})
	go func() { child.Wait(); close(childDone) }()
	t.Cleanup(func() { child.Process.Kill(); <-childDone })

	c := e.srv.Client()
	ctx := context.Background()
	var uploadID string
	listParts := func() []types.Part {
		if uploadID == "" {
			out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(testBucket)})
			if err != nil || len(out.Uploads) == 0 {
				return nil
			}
			uploadID = aws.ToString(out.Uploads[0].UploadId)
		}
		out, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(testBucket), Key: aws.String(key), UploadId: aws.String(uploadID)})
		if err != nil {
			t.Fatalf("list parts: %v", err)
		}
		return out.Parts
	}
	testutil.WaitFor(t, 60*time.Second, "3 parts on the server", func() bool {
		select {
		case <-childDone:
			t.Fatal("uploader exited before it was killed")
		default:
		}
		return len(listParts()) >= 3
	})
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-childDone
	held := len(listParts())
	if held >= nparts {
		t.Fatalf("all %d parts were sent before the kill; slow the child down", held)
	}
	t.Logf("killed with %d of %d parts on the server", held, nparts)

	e.cat = catalogtest.Open(t, e.catDir)
	var st mpuState
	if err := e.cat.GetState(multipartPfx+key, &st); err != nil {
		t.Fatalf("upload state after kill: %v", err)
	}
	if st.UploadID != uploadID {
		t.Fatalf("persisted upload id %q, server has %q", st.UploadID, uploadID)
	}
	t.Logf("catalog recorded %d parts before the kill", len(st.Parts))

	cnt := countRequests(t)
	t0 := time.Now()
	cfg := e.config()
	cfg.PartSize, cfg.MultipartThreshold = MinPartSize, MinPartSize
	p := e.pusher(cfg)
	stop := testutil.Start(t, "pusher", p.Run)
	testutil.WaitFor(t, 60*time.Second, "asset synced after restart", func() bool { return e.synced(id, t0) })
	stop()

	if n := cnt.get("UploadPart"); n != nparts-held {
		t.Errorf("after restart sent %d parts, want %d (%d of %d were on the server) (%s)", n, nparts-held, held, nparts, cnt)
	}
	if n := cnt.get("CreateMultipartUpload"); n != 0 {
		t.Errorf("restart created %d new multipart uploads, want 0 (resume)", n)
	}
	got, _ := getObject(t, c, key)
	equalBytes(t, key, got, data)
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	_, crc, _, _ := localSums(strings.NewReader(string(data)))
	if aws.ToString(head.ChecksumCRC32C) != hubstore.EncodeCRC32C(crc) {
		t.Errorf("server full-object CRC32C %q, local %q", aws.ToString(head.ChecksumCRC32C), hubstore.EncodeCRC32C(crc))
	}
	if err := e.cat.GetState(multipartPfx+key, &st); err == nil {
		t.Errorf("upload state still present after completion: %+v", st)
	}
	out, _ := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(testBucket)})
	if len(out.Uploads) != 0 {
		t.Errorf("%d multipart uploads left open", len(out.Uploads))
	}
}

// An upload the server no longer knows (NoSuchUpload on ListParts) starts
// over instead of failing forever.
func TestResumeNoSuchUpload(t *testing.T) {
	e := newEnv(t)
	data := randBytes(11<<20, 9)
	id := e.asset("A003/C001.mov", nil)
	key := keyFor(id, "proxy.mp4")
	b3, crc, _, _ := localSums(strings.NewReader(string(data)))
	if err := e.cat.PutState(multipartPfx+key, mpuState{Key: key, UploadID: "gone-upload-id", Size: int64(len(data)), BLAKE3: b3,
		CRC32C: hubstore.EncodeCRC32C(crc), PartSize: MinPartSize, Parts: map[int32]partInfo{1: {ETag: `"x"`, CRC32C: "AAAAAA==", Size: MinPartSize}}}); err != nil {
		t.Fatal(err)
	}
	e.ready(id, map[string][]byte{"proxy.mp4": data})
	cnt := countRequests(t)
	cfg := e.config()
	cfg.PartSize, cfg.MultipartThreshold = MinPartSize, MinPartSize
	t0 := time.Now()
	stop := testutil.Start(t, "pusher", e.pusher(cfg).Run)
	testutil.WaitFor(t, 60*time.Second, "asset synced", func() bool { return e.synced(id, t0) })
	stop()
	if cnt.get("CreateMultipartUpload") != 1 || cnt.get("UploadPart") != 3 {
		t.Errorf("want a fresh upload of 3 parts, got %s", cnt)
	}
	got, _ := getObject(t, e.srv.Client(), key)
	equalBytes(t, key, got, data)
	var doc storage.AssetDoc
	doc, _ = e.cat.Asset(id)
	if doc.Sync == nil || doc.Sync.Status != "synced" {
		t.Errorf("sync = %+v", doc.Sync)
	}
}

// A part that fails in flight (fault injected below the SDK, so its own
// retries fail too) fails the round; the next round resumes the same upload
// and sends only the parts the server lacks.
func TestPartFailureResumesInProcess(t *testing.T) {
	e := newEnv(t)
	cnt := countRequests(t)
	var failed int
	cnt.fail = func(op string) error {
		if op == "UploadPart" && cnt.get("UploadPart") >= 3 && failed < 3 { // the SDK tries 3 times
			failed++
			return errors.New("injected: connection reset")
		}
		return nil
	}
	data := randBytes(5*MinPartSize+777, 42) // 6 parts
	id := e.asset("A004/C001.mov", map[string][]byte{"proxy.mp4": data})
	cfg := e.config()
	cfg.PartSize, cfg.MultipartThreshold, cfg.Concurrency = MinPartSize, MinPartSize, 1
	p := e.pusher(cfg)
	stop := testutil.Start(t, "pusher", p.Run)
	testutil.WaitFor(t, 60*time.Second, "asset synced", func() bool { return e.pushed(id, "proxy.mp4") })
	stop()
	if failed != 3 {
		t.Fatalf("fault injected %d times, want 3", failed)
	}
	// 6 parts sent once each, plus the 3 refused attempts of one of them.
	if n := cnt.get("UploadPart"); n != 6+3 {
		t.Errorf("UploadPart requests %d, want 9 (%s)", n, cnt)
	}
	if n := cnt.get("CreateMultipartUpload"); n != 1 {
		t.Errorf("CreateMultipartUpload %d, want 1 (the upload resumed)", n)
	}
	if n := cnt.get("ListParts"); n != 1 {
		t.Errorf("ListParts %d, want 1 (reconcile on retry)", n)
	}
	if !strings.Contains(p.Status().LastError, "injected") {
		t.Errorf("last_error %q", p.Status().LastError)
	}
	got, _ := getObject(t, e.srv.Client(), keyFor(id, "proxy.mp4"))
	equalBytes(t, "proxy.mp4", got, data)
}
