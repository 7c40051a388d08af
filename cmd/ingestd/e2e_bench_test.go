package main_test

// End-to-end latency benchmark (bench/e2e.sh, `make bench`): from a clip's
// last write into the watch folder to its proxy.mp4 being in the bucket,
// with the real binary, FFmpeg and MinIO. The FFmpeg part (the transcode
// job's elapsed time, from the daemon's "proxy ready" log line) is
// subtracted: what is left is watch + settle + hash + catalog + probe +
// queueing + upload, and the goal is at most settle + 1 s.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/zeebo/blake3"

	"github.com/ingestd/ingestd/internal/miniotest"
	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
)

// jobElapsed finds the transcode job time of asset id in the daemon's JSON log.
func jobElapsed(log, id string) (time.Duration, bool) {
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Msg     string `json:"msg"`
			Asset   string `json:"asset"`
			Elapsed int64  `json:"elapsed"` // slog JSON: nanoseconds
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "proxy ready" && l.Asset == id {
			return time.Duration(l.Elapsed), true
		}
	}
	return 0, false
}

func TestBenchE2ELatency(t *testing.T) {
	if os.Getenv("INGESTD_BENCH") == "" {
		t.Skip("benchmark: run with INGESTD_BENCH=1 (bench/e2e.sh)")
	}
	const bucket = "bench-hub"
	clips := testutil.EnvInt("BENCH_CLIPS", 3)
	seconds := testutil.EnvInt("BENCH_CLIP_SECONDS", 5)
	settle := time.Duration(testutil.EnvInt("BENCH_SETTLE_MS", 1000)) * time.Millisecond
	m := miniotest.Start(t)
	m.CreateBucket(t, bucket)
	e := newEnv(t, "", "appliance_id: bench\nlog:\n  format: json\nproxy:\n  gpu: off\nhub:\n  s3:\n    endpoint: "+m.Endpoint+
		"\n    bucket: "+bucket+"\n    prefix: edge\n    path_style: true\n")
	// newEnv writes settle: 300ms; the bench uses its own.
	cfg, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), "settle: 300ms", "settle: "+settle.String(), 1))
	if err := os.WriteFile(e.cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	e.extraEnv = miniotest.Env()
	e.start()
	src := t.TempDir()

	type row struct {
		name                               string
		mib                                float64
		cataloged, ready, inBucket, ffmpeg time.Duration
	}
	var rows []row
	for i := range clips {
		name := fmt.Sprintf("B%03d_C%03d.mov", i+1, i+1)
		clip := makeClip(t, src, name, seconds, 300+97*i, false)
		data, err := os.ReadFile(clip)
		if err != nil {
			t.Fatal(err)
		}
		sum := blake3.Sum256(data)
		id := fmt.Sprintf("%x", sum[:])
		key := "edge/bench/assets/" + id + "/proxy.mp4"

		// Copy as a NAS client would: chunked writes, then close.
		dst := filepath.Join(e.watch, name)
		f, err := os.Create(dst)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(data); off += 1 << 20 {
			if _, err := f.Write(data[off:min(off+1<<20, len(data))]); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()

		var t1 time.Time
		deadline := t0.Add(mediaTimeout)
		for time.Now().Before(deadline) {
			_, err := m.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if err == nil {
				t1 = time.Now()
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if t1.IsZero() {
			t.Fatalf("%s: proxy not in the bucket after %s; daemon log:\n%s", name, mediaTimeout, e.stderr.String())
		}
		r := row{name: name, mib: float64(len(data)) / (1 << 20), inBucket: t1.Sub(t0)}
		for _, ev := range e.feedAll() {
			if ev.AssetID != id {
				continue
			}
			switch ev.Type {
			case storage.EvAssetCataloged:
				r.cataloged = ev.Time.Sub(t0)
			case storage.EvProxyReady:
				r.ready = ev.Time.Sub(t0)
			}
		}
		var ok bool
		if r.ffmpeg, ok = jobElapsed(e.stderr.String(), id); !ok {
			t.Fatalf("%s: no \"proxy ready\" log line for %s", name, id)
		}
		rows = append(rows, r)
	}
	e.stop()

	ms := func(d time.Duration) string { return fmt.Sprintf("%7.0f", float64(d)/float64(time.Millisecond)) }
	w := io.Writer(os.Stdout)
	fmt.Fprintf(w, "e2e latency: last write -> proxy.mp4 in the bucket (settle %s, %d s 320x180 H.264/AAC clips, CPU lane, MinIO on loopback)\n", settle, seconds)
	fmt.Fprintf(w, "%-16s %7s %9s %9s %9s %9s %9s %9s\n", "clip", "MiB", "catalog", "ready", "bucket", "ffmpeg", "non-ff", "-settle")
	var over []time.Duration
	for _, r := range rows {
		nonFF := r.inBucket - r.ffmpeg
		over = append(over, nonFF-settle)
		fmt.Fprintf(w, "%-16s %7.2f %7sms %7sms %7sms %7sms %7sms %7sms\n", r.name, r.mib,
			ms(r.cataloged), ms(r.ready), ms(r.inBucket), ms(r.ffmpeg), ms(nonFF), ms(nonFF-settle))
	}
	sort.Slice(over, func(i, j int) bool { return over[i] < over[j] })
	med := over[len(over)/2]
	verdict := "OK"
	if med > time.Second {
		verdict = "ABOVE GOAL"
	}
	fmt.Fprintf(w, "median latency minus FFmpeg minus settle: %s ms (goal <= 1000 ms): %s\n", strings.TrimSpace(ms(med)), verdict)
}
