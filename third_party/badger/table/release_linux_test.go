/*
 * SPDX-FileCopyrightText: © The ingestd authors
 * SPDX-License-Identifier: Apache-2.0
 */

package table

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/dgraph-io/badger/v4/y"
	"github.com/stretchr/testify/require"
)

// residentKiB is the Rss of this process's mapping that starts at data[0],
// from /proc/self/smaps.
func residentKiB(t *testing.T, data []byte) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	require.NoError(t, err)
	defer f.Close()
	start := fmt.Sprintf("%x-", uintptr(unsafe.Pointer(&data[0])))
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = strings.HasPrefix(fields[0], start)
			continue
		}
		if in && len(fields) >= 2 && fields[0] == "Rss:" {
			kb, err := strconv.Atoi(fields[1])
			require.NoError(t, err)
			return kb
		}
	}
	t.Fatalf("no mapping at %s in /proc/self/smaps", start)
	return 0
}

// bigTable builds a table of about 5 MB: 5000 keys with 1 KiB values.
func bigTable(t *testing.T) (*Table, [][]string) {
	kvs := make([][]string, 5000)
	for i := range kvs {
		kvs[i] = []string{key("big", i), strings.Repeat(fmt.Sprintf("%07d", i), 147)}
	}
	return buildTable(t, kvs, Options{BlockSize: 4 << 10, BloomFalsePositive: 0.01}), kvs // uncompressed, as ingestd's
}

// ingestd patch (PATCHES.md): a new table is not resident once written
// but for its index; an iterator without the block cache (a compaction's)
// leaves no block it has passed resident; one with the cache does not
// release; the values read are right either way.
func TestReleasePages(t *testing.T) {
	tbl, kvs := bigTable(t)
	defer func() { require.NoError(t, tbl.DecrRef()) }()
	size := len(tbl.Data) >> 10
	// What may stay: the index OpenTable reads back, the first and last
	// blocks it reads, and the kernel's read-around of each (64 KiB).
	allowed := tbl.IndexSize()>>10 + 3*64 + 8
	require.Greater(t, size, 4*allowed, "table too small for the test")

	if kb := residentKiB(t, tbl.Data); kb > allowed {
		t.Fatalf("new table: %d KiB of %d resident, want at most %d", kb, size, allowed)
	}

	iterate := func(opt int) {
		it := tbl.NewIterator(opt)
		defer it.Close()
		i := 0
		for it.Rewind(); it.Valid(); it.Next() {
			require.Equal(t, kvs[i][0], string(y.ParseKey(it.Key())))
			require.Equal(t, kvs[i][1], string(it.Value().Value))
			i++
		}
		require.Equal(t, len(kvs), i)
	}
	iterate(NOCACHE)
	if kb := residentKiB(t, tbl.Data); kb > allowed {
		t.Fatalf("after a NOCACHE iteration: %d KiB of %d resident, want at most %d", kb, size, allowed)
	}
	iterate(0)
	if kb := residentKiB(t, tbl.Data); kb < size/2 {
		t.Fatalf("after a cached iteration: %d KiB of %d resident; the patch released more than it should", kb, size)
	}
	iterate(NOCACHE) // again, over pages now resident
}

// A table in memory has no file: its data is ordinary memory, which the
// advice would zero. A NOCACHE iteration must leave it intact.
func TestReleasePagesInMemoryTable(t *testing.T) {
	opts := getTestTableOptions()
	b := NewTableBuilder(opts)
	defer b.Close()
	kvs := make([][]string, 3000)
	for i := range kvs {
		kvs[i] = []string{key("mem", i), strings.Repeat("v", 900)}
		b.Add(y.KeyWithTs([]byte(kvs[i][0]), 0), y.ValueStruct{Value: []byte(kvs[i][1]), Meta: 'A'}, 0)
	}
	tbl, err := OpenInMemoryTable(b.Finish(), 1, &opts)
	require.NoError(t, err)
	defer func() { require.NoError(t, tbl.DecrRef()) }()
	for range 2 {
		it := tbl.NewIterator(NOCACHE)
		i := 0
		for it.Rewind(); it.Valid(); it.Next() {
			require.Equal(t, kvs[i][0], string(y.ParseKey(it.Key())))
			require.Equal(t, kvs[i][1], string(it.Value().Value))
			i++
		}
		require.NoError(t, it.Close())
		require.Equal(t, len(kvs), i)
	}
}
