package catalog

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/ingestd/ingestd/storage"
)

const benchLocations = 100_000

var (
	benchOnce sync.Once
	benchDir  string
)

// benchCatalog is a catalog holding benchLocations present locations (and
// 1% removed ones) on volume "footage", built once per test binary.
func benchCatalog(b *testing.B) string {
	benchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "catalog-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = dir
		c, err := Open(dir, fast)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		// The same putFile logic as PutFile, 500 files per transaction so
		// the fixture builds in seconds.
		const perTxn = 500
		for lo := 0; lo < benchLocations; lo += perTxn {
			_, err := c.write(func(w *txw) error {
				for i := lo; i < lo+perTxn; i++ {
					r := storage.FileRecord{
						Volume: "footage", Path: fmt.Sprintf("project/day%02d/cam%c/clip%06d.mov", i%30, 'A'+i%4, i),
						Size: int64(i), MTime: time.Unix(1_700_000_000, int64(i)), Inode: uint64(i), Dev: 1,
						Hashes: hashes(fmt.Sprint(i)),
					}
					if err := w.putFile(r); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		// 1% removed, so the walk has records to skip.
		for i := 0; i < benchLocations; i += 100 {
			p := fmt.Sprintf("project/day%02d/cam%c/clip%06d.mov", i%30, 'A'+i%4, i)
			if _, err := c.RemoveLocation("footage", p, "deleted"); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("built %d locations in %v", benchLocations, time.Since(start))
		c.Close()
	})
	return benchDir
}

// BenchmarkWalkLocations walks a 100k-location volume, as the reconcile
// walk does on every rescan.
func BenchmarkWalkLocations(b *testing.B) {
	c := open(b, benchCatalog(b), fast)
	b.ResetTimer()
	for b.Loop() {
		n := 0
		if err := c.WalkLocations("footage", func(storage.Location) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		if n != benchLocations-benchLocations/100 {
			b.Fatalf("walked %d", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchLocations, "ns/location")
}

// BenchmarkPutFileUnchanged is the restart path: every file re-reported
// with the same stat (a read, no write).
func BenchmarkPutFileUnchanged(b *testing.B) {
	c := open(b, benchCatalog(b), fast)
	r := storage.FileRecord{
		Volume: "footage", Path: fmt.Sprintf("project/day%02d/cam%c/clip%06d.mov", 1, 'B', 1),
		Size: 1, MTime: time.Unix(1_700_000_000, 1), Inode: 1, Dev: 1, Hashes: hashes("1"),
	}
	for b.Loop() {
		evs, err := c.PutFile(r)
		if err != nil || len(evs) != 0 {
			b.Fatal(evs, err)
		}
	}
}

// BenchmarkPutFileSynced is one new file per transaction with fsync on,
// the production setting. syncs/op counts the catalog's syncs (each one
// DB.Sync: an msync of the WAL and of the value log) per file.
func BenchmarkPutFileSynced(b *testing.B) {
	c, _ := newCat(b, Options{})
	syncs := c.syncs.Load()
	i := 0
	for b.Loop() {
		if _, err := c.PutFile(rec("v", fmt.Sprint("p", i), fmt.Sprint(i), 1, 1)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(c.syncs.Load()-syncs)/float64(b.N), "syncs/op")
}

// BenchmarkPutFileSyncedParallel is BenchmarkPutFileSynced from several
// writers at once; ns/op is wall time per file over all writers. The
// writers' changes are committed in batches (txns/op: transactions per
// file) and share syncs. 256 is how many files ingest lets wait for the
// catalog at once (daemon/ingest maxCataloging).
func BenchmarkPutFileSyncedParallel(b *testing.B) {
	for _, writers := range []int{2, 4, 16, 256} {
		b.Run(fmt.Sprint("writers=", writers), func(b *testing.B) {
			c, _ := newCat(b, Options{})
			syncs, txns := c.syncs.Load(), c.head.Load().ticket
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range writers {
				wg.Go(func() {
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						if _, err := c.PutFile(rec("v", fmt.Sprint("p", i), fmt.Sprint(i), 1, 1)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(c.syncs.Load()-syncs)/float64(b.N), "syncs/op")
			b.ReportMetric(float64(c.head.Load().ticket-txns)/float64(b.N), "txns/op")
		})
	}
}

// BenchmarkWalkBaselines runs, on the same 100k-location volume, what
// WalkLocations is measured against: Badger's key-only iteration of the
// same prefix (the floor) and the same walk decoding with encoding/json.
func BenchmarkWalkBaselines(b *testing.B) {
	c := open(b, benchCatalog(b), fast)
	prefix := volPrefix("footage")
	b.Run("badger-keys-only", func(b *testing.B) {
		for b.Loop() {
			c.db.View(func(txn *badger.Txn) error {
				opt := badger.DefaultIteratorOptions
				opt.Prefix, opt.PrefetchValues = prefix, false
				it := txn.NewIterator(opt)
				defer it.Close()
				for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
				}
				return nil
			})
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			c.scanPresent("footage", func(path string, v []byte) error {
				var l storage.Location
				return json.Unmarshal(v, &l)
			})
		}
	})
	b.Run("catalog", func(b *testing.B) {
		for b.Loop() {
			c.WalkLocations("footage", func(storage.Location) error { return nil })
		}
	})
}
