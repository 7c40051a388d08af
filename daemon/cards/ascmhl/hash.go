// Package ascmhl reads, writes and verifies ASC MHL v2 histories (an
// ascmhl/ folder with numbered generation files and ascmhl_chain.xml), in
// the format of the reference implementation github.com/ascmitc/mhl.
//
// It owns the MHL hash formats and their encodings, directory (content and
// structure) hashes, the XML files and the rules for continuing a history,
// and reads them as the reference does: renamed files (previous_path) are
// expected under their new names, nested histories in sub-folders
// (History.LoadNested) answer for the files below them, and every read of
// an untrusted history is bounded (per file and in all). It must not touch the catalog, the network or anything outside the folder
// it is given: copying cards is the job of package cards.
package ascmhl

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"math/big"
	"sort"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/zeebo/xxh3"
)

// Format is an ASC MHL hash format (the element name in the XML).
type Format string

// The hash formats of ASC MHL v2. BLAKE3 is not one of them.
const (
	C4     Format = "c4"
	MD5    Format = "md5"
	SHA1   Format = "sha1"
	XXH128 Format = "xxh128"
	XXH3   Format = "xxh3"
	XXH64  Format = "xxh64"
)

// DefaultFormat is what the reference tool writes when not told otherwise.
const DefaultFormat = XXH128

// Formats lists every format in the order the XSD wants them in a <hash>
// element (which is also their alphabetical order).
var Formats = []Format{C4, MD5, SHA1, XXH128, XXH3, XXH64}

// ParseFormat returns the format named s, or an error.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown mhl hash format %q", s)
}

// SortFormats sorts formats into XSD order and drops duplicates.
func SortFormats(fs []Format) []Format {
	seen := map[Format]bool{}
	out := make([]Format, 0, len(fs))
	for _, f := range fs {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// NewHash returns a fresh hash.Hash for f. Its Sum is the big-endian digest
// (for xxh64/xxh3/xxh128 the canonical form that xxhsum prints).
func NewHash(f Format) (hash.Hash, error) {
	switch f {
	case C4:
		return sha512.New(), nil
	case MD5:
		return md5.New(), nil
	case SHA1:
		return sha1.New(), nil
	case XXH128:
		return xxh3.New128(), nil
	case XXH3:
		return xxh3.New(), nil
	case XXH64:
		return xxhash.New(), nil
	}
	return nil, fmt.Errorf("unknown mhl hash format %q", f)
}

const (
	c4Charset = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	c4Len     = 90
)

// Encode renders a digest as the MHL writes it: lowercase hex, or a C4 ID.
func Encode(f Format, sum []byte) string {
	if f != C4 {
		return hex.EncodeToString(sum)
	}
	n := new(big.Int).SetBytes(sum)
	base := big.NewInt(58)
	mod := new(big.Int)
	var b []byte
	for n.Sign() != 0 {
		n.DivMod(n, base, mod)
		b = append(b, c4Charset[mod.Int64()])
	}
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return "c4" + strings.Repeat("1", c4Len-2-len(b)) + string(b)
}

// Decode turns an encoded digest back into bytes (the inverse of Encode).
func Decode(f Format, s string) ([]byte, error) {
	if f != C4 {
		b, err := hex.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("decode %s digest %q: %w", f, s, err)
		}
		return b, nil
	}
	if len(s) != c4Len || !strings.HasPrefix(s, "c4") {
		return nil, fmt.Errorf("decode c4 id %q: bad length or prefix", s)
	}
	n := new(big.Int)
	base := big.NewInt(58)
	for _, r := range s[2:] {
		i := strings.IndexRune(c4Charset, r)
		if i < 0 {
			return nil, fmt.Errorf("decode c4 id %q: bad character %q", s, r)
		}
		n.Mul(n, base).Add(n, big.NewInt(int64(i)))
	}
	out := make([]byte, 64)
	if n.BitLen() > 512 {
		return nil, fmt.Errorf("decode c4 id %q: overflows 512 bits", s)
	}
	return n.FillBytes(out), nil
}

// HashBytes hashes data with f and returns the encoded digest.
func HashBytes(f Format, data []byte) (string, error) {
	h, err := NewHash(f)
	if err != nil {
		return "", err
	}
	h.Write(data)
	return Encode(f, h.Sum(nil)), nil
}

// HashOfHashList is the reference's directory aggregation: sort the encoded
// child digests as strings, feed their decoded bytes to a new hash in that
// order. An empty list gives the digest of no input.
func HashOfHashList(f Format, list []string) (string, error) {
	h, err := NewHash(f)
	if err != nil {
		return "", err
	}
	sorted := append([]string(nil), list...)
	sort.Strings(sorted)
	for _, s := range sorted {
		b, err := Decode(f, s)
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	return Encode(f, h.Sum(nil)), nil
}
