package cards

import (
	"context"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/zeebo/xxh3"

	"github.com/ingestd/ingestd/internal/safefs"
)

// ContentIDs fills FileResult.BLAKE3 (the content id the catalog gives a
// file) of every file in files that has none, from a verified copy of the
// card: dir, a folder below root (the volume root; nothing from there down
// is followed through a symlink). The card pass leaves the ids out: source
// verification needs only xxh128, and a card is safe to format without
// them, so they are computed afterwards, off the card's critical path.
//
// known, when set, is asked first for each file (whatever the caller
// already knows, e.g. the catalog's id for a copy the ingest has hashed):
// a non-empty answer is taken as it is and the file is not read. A file
// that is read is hashed with xxh128 in the same pass and must still
// match FileResult.XXH128, the card's: a copy changed since it was
// verified fails with ErrMismatch naming it (its BLAKE3 would not be the
// card's content), a copy gone or replaced by a non-regular file with an
// error naming it. The ids filled before an error are kept. It returns
// how many files were read.
func ContentIDs(ctx context.Context, root, dir string, files []FileResult, known func(FileResult) string) (int, error) {
	var todo []int
	for i := range files {
		if files[i].BLAKE3 != "" {
			continue
		}
		if known != nil {
			if id := known(files[i]); id != "" {
				files[i].BLAKE3 = id
				continue
			}
		}
		todo = append(todo, i)
	}
	if len(todo) == 0 {
		return 0, nil
	}
	root, dir = absPath(root), absPath(dir)
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return 0, fmt.Errorf("content ids: %s is not below %s", dir, root)
	}
	rd, err := safefs.OpenRoot(root, false)
	if err != nil {
		return 0, fmt.Errorf("content ids: open %s: %w", root, err)
	}
	defer rd.Close()
	d := rd
	if rel != "." {
		if d, err = rd.OpenDir(filepath.ToSlash(rel)); err != nil {
			return 0, fmt.Errorf("content ids: open %s: %w", dir, err)
		}
		defer d.Close()
	}
	b3, x128 := newBLAKE3(), xxh3.New128()
	h := fused{x128, b3}
	reset := func() { b3.Reset(); x128.Reset() }
	var buf []byte
	read := 0
	for _, i := range todo {
		fr := &files[i]
		if err := ctx.Err(); err != nil {
			return read, err
		}
		p := filepath.Join(dir, filepath.FromSlash(fr.Path))
		f, st, err := d.OpenRegular(fr.Path)
		if err != nil {
			return read, fmt.Errorf("content id of %s: %w", p, err)
		}
		if st.Size != fr.Size {
			f.Close()
			return read, fmt.Errorf("content id of %s: %w: size %d, card %d", p, ErrMismatch, st.Size, fr.Size)
		}
		reset()
		err = hashWhole(f, h, &buf)
		f.Close()
		read++
		if err != nil {
			return read, fmt.Errorf("content id of %s: read: %w", p, err)
		}
		if got := hex.EncodeToString(x128.Sum(nil)); got != fr.XXH128 {
			return read, fmt.Errorf("content id of %s: %w: xxh128 %s, card %s (changed since verified)", p, ErrMismatch, got, fr.XXH128)
		}
		fr.BLAKE3 = hex.EncodeToString(b3.Sum(nil))
	}
	return read, nil
}
