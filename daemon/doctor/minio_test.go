package doctor

// A minimal MinIO starter for the S3 probe test. The sync engineer's
// sync/internal/miniotest is internal to sync/, so this mirrors its binary
// lookup ($INGESTD_MINIO, ~/.cache/ingestd-tools/bin/minio, PATH) and start.

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

const (
	minioUser = "ingestd-doctor"
	minioPass = "ingestd-doctor-secret"
)

type minio struct{ endpoint string }

func minioBinary() string {
	if p := os.Getenv("INGESTD_MINIO"); p != "" {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "ingestd-tools", "bin", "minio")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, _ := exec.LookPath("minio")
	return p
}

func startMinIO(t *testing.T) *minio {
	t.Helper()
	bin := minioBinary()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("minio binary not found (scripts/deps.sh installs it)")
		}
		t.Skip("minio binary not found (set INGESTD_MINIO or run scripts/deps.sh)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	logf, err := os.Create(filepath.Join(dir, "minio.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "server", "--quiet", "--address", addr, "--console-address", "127.0.0.1:0", filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+minioUser, "MINIO_ROOT_PASSWORD="+minioPass,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start minio: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	m := &minio{endpoint: "http://" + addr}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			b, _ := os.ReadFile(filepath.Join(dir, "minio.log"))
			t.Fatalf("minio exited: %s", b)
		default:
		}
		if resp, err := http.Get(m.endpoint + "/minio/health/live"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return m
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("minio did not become live within 60s")
	return nil
}
