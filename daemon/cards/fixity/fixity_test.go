package fixity

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
)

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// The fixity check tells corrupt (same size and mtime, other bytes) from
// changed, missing and intact files; only corrupt ones become events, and
// the HTTP stream carries every kind of line.
func TestFixityCheck(t *testing.T) {
	cat := catalogtest.Open(t, t.TempDir())
	root := t.TempDir()
	okID := catalogtest.PutFile(t, cat, "v", root, "a/ok.mov", []byte("intact master"))
	badID := catalogtest.PutFile(t, cat, "v", root, "a/rot.mov", []byte("bit rot here"))
	catalogtest.PutFile(t, cat, "v", root, "a/edited.mov", []byte("will be rewritten"))
	catalogtest.PutFile(t, cat, "v", root, "b/gone.mov", []byte("will be deleted"))
	_ = okID

	rot := filepath.Join(root, "a/rot.mov")
	fi, _ := os.Stat(rot)
	os.WriteFile(rot, []byte("bit rot HERE"), 0o644)
	os.Chtimes(rot, fi.ModTime(), fi.ModTime())
	os.WriteFile(filepath.Join(root, "a/edited.mov"), []byte("rewritten, longer now"), 0o644)
	os.Remove(filepath.Join(root, "b/gone.mov"))

	fx := New(cards.FixityConfig{}, []Volume{{Name: "v", Path: root}}, cat, nil)
	srv := httptest.NewServer(Handler(fx))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"?volume=v", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("POST /v1/verify: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	byType := map[string][]Line{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var l Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		byType[l.Type] = append(byType[l.Type], l)
	}
	done := byType["done"]
	if len(done) != 1 || done[0].Files != 4 || done[0].OK != 1 || done[0].Corrupt != 1 || done[0].Changed != 1 || done[0].Missing != 1 {
		t.Fatalf("done lines %+v", done)
	}
	if c := byType["corrupt"]; len(c) != 1 || c[0].Path != "a/rot.mov" || c[0].AssetID != badID || c[0].Got == badID {
		t.Errorf("corrupt lines %+v", c)
	}
	if m := byType["missing"]; len(m) != 1 || m[0].Path != "b/gone.mov" {
		t.Errorf("missing lines %+v", m)
	}
	if len(byType["start"]) != 1 || len(byType["progress"]) == 0 {
		t.Errorf("start/progress lines: %+v", byType)
	}
	evs, _ := cat.Events(0, 1000)
	var corrupt []storage.Event
	for _, ev := range evs {
		if ev.Type == storage.EvLocationCorrupt {
			corrupt = append(corrupt, ev)
		}
	}
	if len(corrupt) != 1 || corrupt[0].Path != "a/rot.mov" || corrupt[0].AssetID != badID || corrupt[0].Volume != "v" {
		t.Errorf("location.corrupt events %+v", corrupt)
	}
	if st := fx.Status(); st.Running || st.LastFiles != 4 || st.LastCorrupt != 1 {
		t.Errorf("fixity status %+v", st)
	}

	// A path limits the check; an unknown volume is a 400.
	sum, err := fx.Check(context.Background(), "v", "a/ok.mov", "api", nil)
	if err != nil || sum.Files != 1 || sum.OK != 1 {
		t.Errorf("check of one file: %+v %v", sum, err)
	}
	r2, _ := http.Post(srv.URL+"?volume=nope", "", nil)
	if r2.StatusCode != 400 {
		t.Errorf("unknown volume: %d, want 400", r2.StatusCode)
	}
	r2.Body.Close()
	r2, _ = http.Post(srv.URL+"?volume=v&path_b64=%25%25", "", nil)
	if r2.StatusCode != 400 {
		t.Errorf("bad path_b64: %d, want 400", r2.StatusCode)
	}
	r2.Body.Close()
}

// TestVerifyPathB64: a master whose name is not UTF-8 is checked by its
// exact bytes (path_b64), which its display form (U+FFFD) cannot name.
func TestVerifyPathB64(t *testing.T) {
	cat := catalogtest.Open(t, t.TempDir())
	root := t.TempDir()
	const name = "a/clip-\xff\xfe.mov"
	id := catalogtest.PutFile(t, cat, "v", root, name, []byte("latin-1 named master"))
	rot := filepath.Join(root, name)
	fi, err := os.Stat(rot)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(rot, []byte("latin-1 named MASTER"), 0o644)
	os.Chtimes(rot, fi.ModTime(), fi.ModTime())
	fx := New(cards.FixityConfig{}, []Volume{{Name: "v", Path: root}}, cat, nil)
	srv := httptest.NewServer(Handler(fx))
	defer srv.Close()
	for _, tc := range []struct {
		name, query string
		files       int
		corrupt     bool
	}{
		{"display form names nothing", "path=" + url.QueryEscape(strings.ToValidUTF8(name, "\uFFFD")), 0, false},
		{"path_b64 names the file", "path=ignored&path_b64=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte(name))), 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+"?volume=v&"+tc.query, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var done Line
			corrupt := false
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				var l Line
				if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
					t.Fatalf("line %q: %v", sc.Text(), err)
				}
				switch l.Type {
				case "done":
					done = l
				case "corrupt":
					corrupt = l.Path == name && l.AssetID == id
				}
			}
			if done.Files != tc.files || corrupt != tc.corrupt {
				t.Errorf("done %+v, corrupt line for %q: %v; want %d files, corrupt %v", done, name, corrupt, tc.files, tc.corrupt)
			}
		})
	}
}

// The checking thread runs at the requested IO priority.
func TestIOPrio(t *testing.T) {
	done := make(chan int, 1)
	go func() {
		runtime.LockOSThread() // the thread exits with the goroutine
		if err := setIOPrio(ioprioClassIdle << ioprioClassShift); err != nil {
			done <- -2
			return
		}
		p, _, errno := unix.Syscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, 0, 0)
		if errno != 0 {
			done <- -1
			return
		}
		done <- int(p)
	}()
	got := <-done
	if got < 0 {
		t.Fatalf("ioprio_set/get failed (%d)", got)
	}
	if got>>ioprioClassShift != ioprioClassIdle {
		t.Errorf("ioprio after set: class %d, want idle (%d)", got>>ioprioClassShift, ioprioClassIdle)
	}
}

// BenchmarkFixityCheck re-reads 8 x 32 MiB masters (page cache warm after
// the first run); bench/fixity.sh compares it with b3sum --num-threads 1.
func BenchmarkFixityCheck(b *testing.B) {
	cat := catalogtest.Open(b, b.TempDir())
	root := os.Getenv("INGESTD_FIXITY_BENCH_DIR")
	if root == "" {
		root = b.TempDir()
	}
	var total int64
	for i := 0; i < 8; i++ {
		data := make([]byte, 32<<20)
		for j := range data {
			data[j] = byte(i*7 + j*13)
		}
		rel := fmt.Sprintf("m%02d.mov", i)
		p := filepath.Join(root, rel)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
		fi, _ := os.Stat(p)
		sum := blake3.Sum256(data)
		if _, err := cat.PutFile(storage.FileRecord{Volume: "v", Path: rel, Size: fi.Size(), MTime: fi.ModTime(), Hashes: storage.Hashes{BLAKE3: hex.EncodeToString(sum[:]), XXH128: strings.Repeat("0", 32)}}); err != nil {
			b.Fatal(err)
		}
		total += fi.Size()
	}
	fx := New(cards.FixityConfig{}, []Volume{{Name: "v", Path: root}}, cat, slogDiscard())
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sum, err := fx.Check(context.Background(), "v", "", "api", nil)
		if err != nil || sum.OK != 8 {
			b.Fatalf("%+v %v", sum, err)
		}
	}
}

// The scheduled walk runs on its interval and records corruption.
func TestFixitySchedule(t *testing.T) {
	cat := catalogtest.Open(t, t.TempDir())
	root := t.TempDir()
	id := catalogtest.PutFile(t, cat, "v", root, "x.mov", []byte("scheduled"))
	p := filepath.Join(root, "x.mov")
	fi, _ := os.Stat(p)
	os.WriteFile(p, []byte("Scheduled"), 0o644)
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	fx := New(cards.FixityConfig{Interval: 100 * time.Millisecond}, []Volume{{Name: "v", Path: root}}, cat, slogDiscard())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fx.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for fx.Status().LastCorrupt != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("scheduled walk did not run: %+v", fx.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	evs, _ := cat.Events(0, 1000)
	found := false
	for _, ev := range evs {
		found = found || (ev.Type == storage.EvLocationCorrupt && ev.AssetID == id)
	}
	if !found {
		t.Error("no location.corrupt from the scheduled walk")
	}
}
