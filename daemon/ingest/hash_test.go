package ingest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/internal/testenv"
)

// Reference digests: xxh128 of "media-hash-list" from the ASC MHL notes,
// BLAKE3 of "" and "abc" from the BLAKE3 spec test vectors.
func TestHashReaderVectors(t *testing.T) {
	cases := []struct {
		name, in, blake3, xxh128 string
	}{
		{"empty", "", "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262", "99aa06d3014798d86001c324468d497f"},
		{"mhl", "media-hash-list", "", "61a67c014f703a456ee7a776fd8c06bd"},
		{"abc", "abc", "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85", ""},
	}
	for _, c := range cases {
		for _, bufSize := range []int{0, 7, 64 << 10, HashBufferSize} {
			var buf []byte
			if bufSize > 0 {
				buf = make([]byte, bufSize)
			}
			h, n, err := HashReader(strings.NewReader(c.in), buf)
			if err != nil {
				t.Fatalf("%s/%d: %v", c.name, bufSize, err)
			}
			if n != int64(len(c.in)) {
				t.Errorf("%s/%d: n=%d", c.name, bufSize, n)
			}
			if c.blake3 != "" && h.BLAKE3 != c.blake3 {
				t.Errorf("%s/%d: blake3 %s want %s", c.name, bufSize, h.BLAKE3, c.blake3)
			}
			if c.xxh128 != "" && h.XXH128 != c.xxh128 {
				t.Errorf("%s/%d: xxh128 %s want %s", c.name, bufSize, h.XXH128, c.xxh128)
			}
		}
	}
}

// The serial and the pipelined paths agree on sizes around the buffer
// halves, also with a reader returning short reads.
func TestHashReaderPathsAgree(t *testing.T) {
	data := make([]byte, 3*HashBufferSize+12345)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	for _, size := range []int{0, 1, HashBufferSize/2 - 1, HashBufferSize / 2, HashBufferSize + 1, len(data)} {
		want, _, _ := HashReader(bytes.NewReader(data[:size]), make([]byte, 4096))
		got, n, err := HashReader(iotest.HalfReader(bytes.NewReader(data[:size])), make([]byte, HashBufferSize))
		if err != nil || n != int64(size) || got != want {
			t.Fatalf("size %d: got %+v n=%d err=%v, want %+v", size, got, n, err, want)
		}
	}
}

func TestHashReaderError(t *testing.T) {
	_, _, err := HashReader(iotest.ErrReader(os.ErrDeadlineExceeded), nil)
	if err == nil {
		t.Fatal("want the reader's error")
	}
	if _, _, err := HashFile(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("want error naming the path, got %v", err)
	}
}

// HashFile agrees with the reference tools b3sum and xxhsum -H128.
func TestHashFileMatchesReferenceTools(t *testing.T) {
	for _, tool := range []string{"b3sum", "xxhsum"} {
		testenv.Need(t, tool)
	}
	dir := t.TempDir()
	for _, size := range []int{0, 1, 1023, 1024, 1025, HashBufferSize + 7, 5*HashBufferSize + 3} {
		p := filepath.Join(dir, "f")
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i ^ i>>8 ^ size)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		h, n, err := HashFile(p)
		if err != nil || n != int64(size) {
			t.Fatalf("size %d: n=%d err=%v", size, n, err)
		}
		b3, err := exec.Command("b3sum", "--no-names", p).Output()
		if err != nil {
			t.Fatal(err)
		}
		xx, err := exec.Command("xxhsum", "-H128", p).Output()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := h.BLAKE3, strings.TrimSpace(string(b3)); got != want {
			t.Errorf("size %d: blake3 %s, b3sum %s", size, got, want)
		}
		if got, want := h.XXH128, strings.Fields(string(xx))[0]; got != want {
			t.Errorf("size %d: xxh128 %s, xxhsum %s", size, got, want)
		}
	}
}

// BenchmarkHashReader: BLAKE3 + xxh128 in one pass from memory (no I/O).
func BenchmarkHashReader(b *testing.B) {
	data := make([]byte, 64<<20)
	for i := range data {
		data[i] = byte(i * 31)
	}
	buf := make([]byte, HashBufferSize)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, err := HashReader(bytes.NewReader(data), buf); err != nil {
			b.Fatal(err)
		}
	}
}

// Hashing does not update the file's access time (O_NOATIME).
func TestHashFileKeepsAtime(t *testing.T) {
	p := filepath.Join(t.TempDir(), "master.mov")
	if err := os.WriteFile(p, []byte("master"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	if _, _, err := HashFile(p); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Stat(p, &st)
	if got := time.Unix(st.Atim.Unix()); !got.Equal(old) {
		t.Errorf("atime changed to %v", got)
	}
}

// HashBytes gives HashReader's digests (the hash workers use it for a
// small file read whole).
func TestHashBytesMatchesHashReader(t *testing.T) {
	for _, n := range []int{0, 1, 1023, 1024, 1025, 64<<10 - 1, 200 << 10} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + i>>8)
		}
		want, _, err := HashReader(bytes.NewReader(b), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := HashBytes(b); got != want {
			t.Fatalf("%d bytes: HashBytes %+v, HashReader %+v", n, got, want)
		}
	}
}
