package s3push

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/miniotest"
	"github.com/ingestd/ingestd/internal/testutil"
)

// TestBenchUploadVsRclone is run by bench/sync.sh (INGESTD_BENCH=1): the
// same proxies pushed to the same local MinIO by the pusher and by
// `rclone copy`, with the same part size and concurrency; it prints the
// throughput ratio (goal >= 1.0). Not a pass/fail speed test.
func TestBenchUploadVsRclone(t *testing.T) {
	if os.Getenv("INGESTD_BENCH") == "" {
		t.Skip("benchmark: run bench/sync.sh (INGESTD_BENCH=1)")
	}
	rclone, err := exec.LookPath("rclone")
	if err != nil {
		t.Fatalf("rclone: %v", err)
	}
	bigN, bigMiB := testutil.EnvInt("BENCH_FILES", 4), testutil.EnvInt("BENCH_MIB", 64)
	e := newEnv(t)
	var total int64
	var ids []string
	for i := range bigN {
		outs := map[string][]byte{
			"proxy.mp4":     randBytes(bigMiB<<20, uint64(1000+i)),
			"poster.jpg":    randBytes(150<<10, uint64(2000+i)),
			"filmstrip.jpg": randBytes(600<<10, uint64(3000+i)),
		}
		for _, b := range outs {
			total += int64(len(b))
		}
		ids = append(ids, e.asset(fmt.Sprintf("bench/C%03d.mov", i), outs))
	}

	// rclone first (so the page cache is warm for both), with the same
	// part size and concurrency as the pusher; AWS_CA_BUNDLE unset (Debian's
	// rclone 1.60 fails with it).
	remote := fmt.Sprintf(":s3,provider=Minio,env_auth=false,access_key_id=%s,secret_access_key=%s,endpoint='%s':%s/rclone",
		miniotest.AccessKey, miniotest.SecretKey, e.srv.Endpoint, testBucket)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, rclone, "copy", filepath.Join(e.stateDir, "media"), remote,
		"--transfers", "4", "--s3-upload-concurrency", "4", "--s3-chunk-size", "16M", "--s3-upload-cutoff", "16M", "--no-check-dest", "--retries", "1", "--low-level-retries", "2")
	cmd.Env = append(os.Environ(), "AWS_CA_BUNDLE=", "RCLONE_CONFIG=/dev/null")
	t0 := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rclone copy: %v\n%s", err, out)
	}
	rcloneT := time.Since(t0)
	keys := listKeys(t, e.srv.Client())
	if len(keys) != 3*bigN {
		t.Fatalf("rclone left %d objects, want %d", len(keys), 3*bigN)
	}

	cfg := e.config()
	t1 := time.Now()
	p := e.pusher(cfg)
	stop := testutil.Start(t, "pusher", p.Run)
	testutil.WaitFor(t, 10*time.Minute, "pusher done", func() bool {
		for _, id := range ids {
			if !e.pushed(id, "proxy.mp4", "poster.jpg", "filmstrip.jpg") {
				return false
			}
		}
		return true
	})
	pushT := time.Since(t1)
	stop()
	if keys := listKeys(t, e.srv.Client()); len(keys) != 3*bigN+3*bigN+bigN {
		t.Fatalf("bucket holds %d objects after the push, want %d", len(keys), 7*bigN)
	}
	mib := float64(total) / (1 << 20)
	fmt.Printf("sync upload: %d assets, %.0f MiB to local MinIO (part 16 MiB, concurrency 4)\n", bigN, mib)
	fmt.Printf("  ingestd s3push: %6.2fs  %7.1f MiB/s (includes BLAKE3+CRC32C of every file, HEAD checks, asset.json, catalog)\n", pushT.Seconds(), mib/pushT.Seconds())
	fmt.Printf("  rclone copy:    %6.2fs  %7.1f MiB/s (rclone %s)\n", rcloneT.Seconds(), mib/rcloneT.Seconds(), rcloneVersion(rclone))
	fmt.Printf("  ratio (rclone time / ingestd time): %.2fx (goal >= 1.0)\n", rcloneT.Seconds()/pushT.Seconds())
}

func rcloneVersion(bin string) string {
	out, _ := exec.Command(bin, "version").Output()
	for i, c := range out {
		if c == '\n' {
			return string(out[:i])
		}
	}
	return string(out)
}
