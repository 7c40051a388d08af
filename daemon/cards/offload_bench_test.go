package cards

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
)

// BenchmarkOffload copies, hashes (xxh128, plus MHL formats) and
// re-reads a card, then computes the content ids (BLAKE3) from the copy as
// the daemon does after the card pass (ContentIDs; here nothing is known
// from the catalog, so every file is read again). INGESTD_BENCH_CARD names
// a card folder to use (bench/cards.sh passes the one it also gives to
// cp+xxhsum+b3sum); otherwise 64 MiB of random files are made in a temp
// dir. The destination is a temp dir next to it.
func BenchmarkOffload(b *testing.B) {
	card := os.Getenv("INGESTD_BENCH_CARD")
	if card == "" {
		card = b.TempDir()
		for i := 0; i < 8; i++ {
			p := filepath.Join(card, "CLIP", fmt.Sprintf("C%04d.MP4", i))
			os.MkdirAll(filepath.Dir(p), 0o755)
			f, _ := os.Create(p)
			io.CopyN(f, rand.Reader, 8<<20)
			f.Close()
		}
	}
	dstRoot := os.Getenv("INGESTD_BENCH_DST")
	if dstRoot == "" {
		dstRoot = b.TempDir()
	}
	for _, tc := range []struct {
		name    string
		formats []ascmhl.Format
	}{
		{"xxh128", []ascmhl.Format{ascmhl.XXH128}},
		{"xxh128+md5+xxh64", []ascmhl.Format{ascmhl.XXH128, ascmhl.MD5, ascmhl.XXH64}},
	} {
		formats := tc.formats
		b.Run(tc.name, func(b *testing.B) {
			var size int64
			for i := 0; i < b.N; i++ {
				dst := filepath.Join(dstRoot, fmt.Sprintf("bench-%d", i))
				res, err := Offload(context.Background(), card, dst, Options{MHLFormats: formats, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := ContentIDs(context.Background(), dstRoot, dst, res.Files, nil); err != nil {
					b.Fatal(err)
				}
				size = res.Bytes
				b.StopTimer()
				os.RemoveAll(dst)
				b.StartTimer()
			}
			b.SetBytes(size)
		})
	}
}

// BenchmarkOffloadMulti reads the card once into two destinations (each
// written, synced, re-read and sealed with its own MHL): what a card needs
// to be safe to format, timed. The content ids computed after that from
// the first copy (ContentIDs, as the daemon does where the ingest has not
// hashed the copy yet) are measured apart, outside the timer: ids-s/GB
// and ids-cpu-s/GB. INGESTD_BENCH_CARD and INGESTD_BENCH_DST as for
// BenchmarkOffload; INGESTD_BENCH_DST2 puts the second destination
// elsewhere (default next to the first).
func BenchmarkOffloadMulti(b *testing.B) {
	card := os.Getenv("INGESTD_BENCH_CARD")
	if card == "" {
		card = b.TempDir()
		for i := 0; i < 8; i++ {
			p := filepath.Join(card, "CLIP", fmt.Sprintf("C%04d.MP4", i))
			os.MkdirAll(filepath.Dir(p), 0o755)
			f, _ := os.Create(p)
			io.CopyN(f, rand.Reader, 8<<20)
			f.Close()
		}
	}
	dst1 := os.Getenv("INGESTD_BENCH_DST")
	if dst1 == "" {
		dst1 = b.TempDir()
	}
	dst2 := os.Getenv("INGESTD_BENCH_DST2")
	if dst2 == "" {
		dst2 = dst1
	}
	evict := os.Getenv("INGESTD_BENCH_EVICT") != ""
	var size int64
	var cpu time.Duration         // user+system CPU of the offloads, all threads
	var ids, idsCPU time.Duration // wall and CPU of the content ids
	for i := 0; i < b.N; i++ {
		if evict {
			// The card's pages leave the page cache: it is read from its disk.
			b.StopTimer()
			evictFiles(card) // offload_mapped_test.go
			b.StartTimer()
		}
		a, c := filepath.Join(dst1, fmt.Sprintf("multi-a-%d", i)), filepath.Join(dst2, fmt.Sprintf("multi-b-%d", i))
		cpu0 := cpuTime()
		res, err := OffloadMulti(context.Background(), card, []Destination{{Name: "a", Dir: a}, {Name: "b", Dir: c}},
			Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - cpu0
		size = res.Bytes
		b.StopTimer()
		t0, cpu0 := time.Now(), cpuTime()
		if _, err := ContentIDs(context.Background(), dst1, a, res.Files, nil); err != nil {
			b.Fatal(err)
		}
		ids, idsCPU = ids+time.Since(t0), idsCPU+cpuTime()-cpu0
		os.RemoveAll(a)
		os.RemoveAll(c)
		b.StartTimer()
	}
	b.SetBytes(size)
	// CPU seconds per card GB: what the work costs, less sensitive than
	// wall time to other load on the machine (bench/cards_multi.sh).
	gb := float64(b.N) * float64(size) / 1e9
	b.ReportMetric(cpu.Seconds()/gb, "cpu-s/GB")
	b.ReportMetric(ids.Seconds()/gb, "ids-s/GB")
	b.ReportMetric(idsCPU.Seconds()/gb, "ids-cpu-s/GB")
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
