/*
 * SPDX-FileCopyrightText: © The ingestd authors
 * SPDX-License-Identifier: Apache-2.0
 */

package table

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4/y"
	"github.com/dgraph-io/ristretto/v2/z"
	"github.com/stretchr/testify/require"
)

// fill adds the first n of keys with 100-byte values to b (about n*125
// bytes of table).
func fill(b *Builder, keys [][]byte, n int) {
	v := y.ValueStruct{Value: []byte(strings.Repeat("v", 100))}
	for _, k := range keys[:n] {
		b.Add(k, v, 0)
	}
}

// testKeys makes n keys (made before measuring what a builder allocates).
func testKeys(n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = y.KeyWithTs([]byte(fmt.Sprintf("key%09d", i)), 1)
	}
	return keys
}

// allocated is the bytes fn allocates on the Go heap.
func allocated(fn func()) uint64 {
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	fn()
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc
}

// ingestd patch (PATCHES.md): building a 1 MiB table allocates about the
// table, not 2x it for the builder plus 3 MiB for the index builder.
func TestBuilderAllocatesAboutTheTable(t *testing.T) {
	opts := Options{BlockSize: 4 << 10, BloomFalsePositive: 0.01, TableSize: 1 << 20}
	var size int
	keys := testKeys(7500)
	got := allocated(func() {
		b := NewTableBuilder(opts)
		fill(b, keys, len(keys)) // ~0.93 MB, short of the table's capacity
		size = len(b.Finish())
		b.Close()
	})
	require.Greater(t, size, 900<<10)
	// The builder's first buffer (1.06x TableSize, which the allocator
	// rounds up to a power of two: 2 MiB, the second half never touched),
	// the copy of the table Finish returns, the index and bloom filter, the
	// key hashes: ~3.4 MB. Upstream: 6.7 MB (a 4 MiB buffer, a 3 MiB
	// index builder).
	require.Less(t, got, uint64(4<<20), "allocated %d bytes for a %d-byte table", got, size)
}

// ingestd patch: an allocator that grew past a builder's first buffer, or
// one for a table too big for a first buffer (L0->L0), is released, not
// pooled; a builder's ordinary allocator is pooled.
func TestBuilderPoolsOnlyOrdinaryAllocators(t *testing.T) {
	cases := []struct {
		name      string
		tableSize uint64
		keys      int
		pooled    bool
	}{
		{"ordinary", 1 << 20, 7500, true},
		{"grown past its first buffer", 1 << 20, 40000, false}, // ~5.6 MB into a 1 MiB builder
		{"table of any size (L0->L0)", math.MaxUint32, 100, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pool := z.NewAllocatorPool(8)
			defer pool.Release()
			b := NewTableBuilder(Options{BlockSize: 4 << 10, BloomFalsePositive: 0.01, TableSize: tc.tableSize, AllocPool: pool})
			fill(b, testKeys(tc.keys), tc.keys)
			b.Finish()
			b.Close()
			// The pool hands back a pooled allocator, else a new one of the
			// size asked for.
			a := pool.Get(1<<10, "probe")
			defer a.Release()
			if tc.pooled {
				require.GreaterOrEqual(t, a.Allocated(), uint64(1<<20), "the builder's allocator was not pooled")
			} else {
				require.Less(t, a.Allocated(), uint64(1<<20), "an allocator of %d bytes was pooled", a.Allocated())
			}
		})
	}
}

// ingestd patch: a builder for a table of any size (an L0->L0 compaction's)
// starts with at most 16 MiB, not 256 MiB.
func TestBuilderFirstBufferCapped(t *testing.T) {
	keys := testKeys(100)
	got := allocated(func() {
		b := NewTableBuilder(Options{BlockSize: 4 << 10, BloomFalsePositive: 0.01, TableSize: math.MaxUint32})
		fill(b, keys, len(keys))
		b.Finish()
		b.Close()
	})
	require.Less(t, got, uint64(40<<20))
}
