// Package miniotest starts a real MinIO server for the module's tests (sync,
// doctor, the cmd/ingestd end-to-end tests): it finds the binary, runs it on
// a free loopback port (or a given address) with a temporary data directory,
// waits for /minio/health/live, creates buckets, lists and reads objects,
// hands out the root credentials (to the test or as an environment for a
// child process), and can stop and restart the server (same port, same data)
// for outage tests.
//
// It owns only the MinIO child process and its temp directory. It must not be
// imported by non-test code, and never touches the catalog.
package miniotest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ingestd/ingestd/internal/testenv"
)

// PinnedVersion is the module version installed by scripts/deps.sh.
const PinnedVersion = "github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"

// Root credentials of every test server.
const (
	AccessKey = "ingestd-test"
	SecretKey = "ingestd-test-secret"
	Region    = "us-east-1"
)

// Server is one MinIO process.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT
	Dir      string // data directory
	Addr     string

	bin string
	log string
	mu  sync.Mutex
	cmd *exec.Cmd
	ch  chan struct{}
}

// Binary returns the MinIO binary: $INGESTD_MINIO, then
// ~/.cache/ingestd-tools/bin/minio, then PATH.
func Binary() (string, error) {
	if p := os.Getenv("INGESTD_MINIO"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("INGESTD_MINIO=%s: %w", p, err)
		}
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "ingestd-tools", "bin", "minio")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	return "", errors.New("minio binary not found (set INGESTD_MINIO, or run scripts/deps.sh which installs " + PinnedVersion + ")")
}

// Require returns the MinIO binary. Without one the test is skipped, or
// fails when CI=true.
func Require(t testing.TB) string {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		testenv.SkipOrFail(t, "miniotest: %v", err)
	}
	return bin
}

// Start runs a fresh server on a free loopback port for the test and stops
// it at cleanup. Without a binary the test is skipped, or fails when CI=true.
func Start(t testing.TB) *Server {
	t.Helper()
	Require(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return StartAt(t, addr)
}

// StartAt is Start on a given address (host:port), e.g. one a daemon under
// test was already pointed at while nothing listened there.
func StartAt(t testing.TB, addr string) *Server {
	t.Helper()
	bin := Require(t)
	dir := t.TempDir()
	s := &Server{Endpoint: "http://" + addr, Addr: addr, Dir: filepath.Join(dir, "data"), bin: bin, log: filepath.Join(dir, "minio.log")}
	if err := s.Start(); err != nil {
		t.Fatalf("miniotest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Start (re)starts the process on the same address and data directory.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "server", "--quiet", "--address", s.Addr, "--console-address", "127.0.0.1:0", s.Dir)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+AccessKey, "MINIO_ROOT_PASSWORD="+SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	ch := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(ch) }()
	s.cmd, s.ch = cmd, ch
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-ch:
			b, _ := os.ReadFile(s.log)
			s.cmd = nil
			return fmt.Errorf("minio exited early: %s", b)
		default:
		}
		resp, err := http.Get(s.Endpoint + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("minio did not become live within 60s")
}

// Stop terminates the process (SIGTERM, then SIGKILL) and waits for it.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.ch:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.ch
	}
	s.cmd = nil
}

// Client is an S3 client with the root credentials.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint:               aws.String(s.Endpoint),
		Region:                     Region,
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// CreateBucket creates a bucket or fails the test.
func (s *Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

// Env is the environment that points the default AWS credential chain at the
// root credentials of every test server (and away from any real
// configuration), for a child process: append it to its environment.
func Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + SecretKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
	}
}

// SetEnv points the default AWS credential chain at this server's root
// credentials for the rest of the test (and any child process it starts).
func (s *Server) SetEnv(t testing.TB) {
	for _, kv := range Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// Object is one listed object.
type Object struct {
	Key      string
	ETag     string
	Modified time.Time
	Size     int64
}

// List returns every object of the bucket, sorted by key, or fails the test.
func (s *Server) List(t testing.TB, bucket string) []Object {
	t.Helper()
	var out []Object
	p := s3.NewListObjectsV2Paginator(s.Client(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list %s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			out = append(out, Object{Key: aws.ToString(o.Key), ETag: aws.ToString(o.ETag), Modified: aws.ToTime(o.LastModified), Size: aws.ToInt64(o.Size)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Get returns the body of an object, or fails the test.
func (s *Server) Get(t testing.TB, bucket, key string) []byte {
	t.Helper()
	o, err := s.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer o.Body.Close()
	b, err := io.ReadAll(o.Body)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return b
}
