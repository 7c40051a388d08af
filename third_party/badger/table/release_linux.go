/*
 * SPDX-FileCopyrightText: © The ingestd authors
 * SPDX-License-Identifier: Apache-2.0
 */

package table

import (
	"os"

	"github.com/dgraph-io/ristretto/v2/z"
	"golang.org/x/sys/unix"
)

var pageSize = os.Getpagesize()

// releasePages tells the kernel this process no longer needs the pages of
// mf.Data[off:off+n] that lie wholly inside it (ingestd patch, see
// PATCHES.md). mf.Data is a MAP_SHARED mapping of the table's file that the
// caller keeps mapped (it holds a reference on the table): the pages leave
// the process's RSS, their contents stay in the file, and a later read
// faults them in again, so nothing can be lost. A table in memory (no
// file) is left alone: its data is ordinary memory, which the advice
// would zero.
func releasePages(mf *z.MmapFile, off, n int) {
	if mf == nil || mf.Fd == nil {
		return
	}
	data := mf.Data
	lo := (off + pageSize - 1) / pageSize * pageSize
	hi := min(off+n, len(data)) / pageSize * pageSize
	if lo >= hi {
		return
	}
	_ = unix.Madvise(data[lo:hi], unix.MADV_DONTNEED)
}
