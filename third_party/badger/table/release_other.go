//go:build !linux

/*
 * SPDX-FileCopyrightText: © The ingestd authors
 * SPDX-License-Identifier: Apache-2.0
 */

package table

import "github.com/dgraph-io/ristretto/v2/z"

func releasePages(mf *z.MmapFile, off, n int) {}
