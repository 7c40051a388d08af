package cardsvc

import (
	"context"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
	cardgen "github.com/ingestd/ingestd/testdata/cards"
)

// catalogTree catalogs every file under vol/folder as ingest would and
// returns them as an offload result would list them.
func catalogTree(t *testing.T, cat *catalog.Catalog, vol, folder string) []cards.FileResult {
	t.Helper()
	var out []cards.FileResult
	root := filepath.Join(vol, filepath.FromSlash(folder))
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		sum := blake3.Sum256(data)
		id := hex.EncodeToString(sum[:])
		fi, _ := d.Info()
		if _, err := cat.PutFile(storage.FileRecord{Volume: "v", Path: path.Join(folder, filepath.ToSlash(rel)), Size: fi.Size(), MTime: fi.ModTime(),
			Hashes: storage.Hashes{BLAKE3: id, XXH128: strings.Repeat("0", 32)}}); err != nil {
			return err
		}
		out = append(out, cards.FileResult{Path: filepath.ToSlash(rel), Size: fi.Size(), BLAKE3: id})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// proxyReady cuts a per-part proxy of a video master the way transcode
// does (H.264, closed 1 s GOP, the source's timecode, no audio when the
// source has none) and marks the asset's proxy ready.
func proxyReady(t *testing.T, cat *catalog.Catalog, ffmpeg, state, master, id string) {
	t.Helper()
	out := storage.OutputPath(state, id, "proxy.mp4")
	os.MkdirAll(filepath.Dir(out), 0o755)
	if b, err := exec.Command(ffmpeg, "-hide_banner", "-nostdin", "-y", "-v", "error", "-i", master,
		"-map", "0:v", "-c:v", "libx264", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-bf", "0",
		"-pix_fmt", "yuv420p", "-f", "mp4", out).CombinedOutput(); err != nil {
		t.Fatalf("proxy of %s: %v: %s", master, err, b)
	}
	if _, err := cat.UpdateAsset(id, "", "", func(a *storage.Asset) error {
		a.Proxy = &storage.ProxyInfo{Status: "ready"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func videoParts(d ClipDoc) []string {
	var out []string
	for _, p := range d.Parts {
		if p.Role == "video" {
			out = append(out, path.Base(p.Path))
		}
	}
	return out
}

// A P2 shot spanned over two cards, with its audio in separate mono MXF
// files, becomes one clip: the first card's spans get a whole-clip proxy
// with the audio mixed in; when the second card is offloaded its span joins
// the same clip in shot order and the proxy is cut again over all three
// spans, with the first span's timecode. A single-span clip with separate
// audio gets a proxy too (its video part's own proxy is silent).
func TestSpannedShotAcrossCards(t *testing.T) {
	ffmpeg, ffprobe := testenv.Need(t, "ffmpeg"), testenv.Need(t, "ffprobe")
	ctx := context.Background()
	cat := catalogtest.Open(t, t.TempDir())
	vol, state := t.TempDir(), t.TempDir()
	const shot = "060A2B340101010501010D4313000000SHOT0001"
	folderA, folderB := "2026-11-23/CARDA", "2026-11-23/CARDB"
	if err := cardgen.P2Shot(ctx, ffmpeg, filepath.Join(vol, folderA), shot, []cardgen.P2Span{
		{Clip: "0001AB", Offset: 0, Frames: 30, Timecode: "10:00:00:00", Next: "0002AB"},
		{Clip: "0002AB", Offset: 30, Frames: 20, Timecode: "10:00:01:05", Next: "0003AB"},
	}, 2); err != nil {
		t.Fatal(err)
	}
	if err := cardgen.P2Shot(ctx, ffmpeg, filepath.Join(vol, folderA), "060A2B340101010501010D4313000000SHOT0002", []cardgen.P2Span{
		{Clip: "0004AB", Offset: 0, Frames: 25, Timecode: "11:00:00:00"},
	}, 1); err != nil {
		t.Fatal(err)
	}
	if err := cardgen.P2Shot(ctx, ffmpeg, filepath.Join(vol, folderB), shot, []cardgen.P2Span{
		{Clip: "0003AB", Offset: 50, Frames: 25, Timecode: "10:00:02:00"},
	}, 2); err != nil {
		t.Fatal(err)
	}
	s := &Service{cat: cat, log: slogDiscard(), vols: map[string]string{"v": vol}}
	s.SetClipProxy(state, ffmpeg, ffprobe, "", true)

	offload := func(key, label, folder string) []ClipDoc {
		t.Helper()
		files := catalogTree(t, cat, vol, folder)
		rec := &Record{Key: key, Label: label, Volume: "v", Folder: folder}
		res := cards.Result{Dst: filepath.Join(vol, folder), Layout: cards.LayoutP2, Files: files}
		if _, err := s.recordClips(rec, res, storage.OriginInfo{CardLabel: label, CardLayout: "panasonic_p2", OffloadAt: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
		var docs []ClipDoc
		for _, id := range rec.Clips {
			d, err := cat.Clip(id)
			if err != nil {
				t.Fatal(err)
			}
			docs = append(docs, d)
		}
		return docs
	}
	ready := func(d ClipDoc, names ...string) {
		t.Helper()
		for _, p := range d.Parts {
			for _, n := range names {
				if p.Role == "video" && path.Base(p.Path) == n {
					proxyReady(t, cat, ffmpeg, state, filepath.Join(vol, filepath.FromSlash(p.Path)), p.AssetID)
					s.maybeClipProxy(ctx, p.AssetID)
				}
			}
		}
	}
	get := func(id string) ClipDoc {
		t.Helper()
		d, err := cat.Clip(id)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	docs := offload("uuid:A", "CARDA", folderA)
	if len(docs) != 2 {
		t.Fatalf("card A: %d clips, want 2: %+v", len(docs), docs)
	}
	spanned, single := docs[0], docs[1]
	if len(videoParts(spanned)) != 2 {
		spanned, single = single, spanned
	}
	if got := strings.Join(videoParts(spanned), ","); got != "0001AB.MXF,0002AB.MXF" {
		t.Fatalf("card A shot parts %s", got)
	}
	if !spanned.Incomplete || len(spanned.Spans) != 2 || single.Incomplete {
		t.Errorf("card A alone: shot incomplete=%v spans %+v; single clip incomplete=%v", spanned.Incomplete, spanned.Spans, single.Incomplete)
	}
	ready(spanned, "0001AB.MXF")
	if get(spanned.ID).Proxy != nil {
		t.Fatal("clip proxy cut before every span's proxy was ready")
	}
	ready(spanned, "0002AB.MXF")
	ready(single, "0004AB.MXF")
	if p := get(single.ID).Proxy; p == nil || p.Status != "ready" || p.Frames != 25 {
		t.Fatalf("single-span P2 clip with separate audio: proxy %+v", p)
	}
	checkAudio(t, ffprobe, ffmpeg, ClipProxyPath(state, single.ID), 1.0, "11:00:00:00", nil)
	if p := get(spanned.ID).Proxy; p == nil || p.Status != "ready" || p.Frames != 50 {
		t.Fatalf("card A's spans: proxy %+v", p)
	}
	checkAudio(t, ffprobe, ffmpeg, ClipProxyPath(state, spanned.ID), 2.0, "10:00:00:00", []string{"Mix", "A1 (ch 1)", "A2 (ch 2)"})

	// Card B: its span joins the clip (same id), after card A's.
	docsB := offload("uuid:B", "CARDB", folderB)
	if len(docsB) != 1 || docsB[0].ID != spanned.ID {
		t.Fatalf("card B's span is not the same clip: %+v", docsB)
	}
	merged := docsB[0]
	if got := strings.Join(videoParts(merged), ","); got != "0001AB.MXF,0002AB.MXF,0003AB.MXF" {
		t.Errorf("merged shot parts %s", got)
	}
	if len(merged.Cards) != 2 || merged.Cards[0].Label != "CARDA" || merged.Cards[1].Label != "CARDB" || merged.CardLabel != "CARDA" {
		t.Errorf("merged shot cards %+v (record card %s)", merged.Cards, merged.CardLabel)
	}
	if merged.Incomplete || len(merged.Spans) != 3 || merged.Spans[2].Clip != "0003AB" || merged.Spans[2].Card != "uuid:B" || merged.Spans[1].Duration != 20 {
		t.Errorf("merged shot incomplete=%v spans %+v", merged.Incomplete, merged.Spans)
	}
	if merged.Proxy != nil {
		t.Errorf("the proxy of card A's spans survived the merge: %+v", merged.Proxy)
	}
	var audio []string
	for _, p := range merged.Parts {
		if p.Role == "audio" {
			audio = append(audio, path.Base(p.Path)+"@"+strconv.FormatInt(p.Offset, 10))
		}
	}
	if got := strings.Join(audio, ","); got != "0001AB00.MXF@0,0001AB01.MXF@0,0002AB00.MXF@30,0002AB01.MXF@30,0003AB00.MXF@50,0003AB01.MXF@50" {
		t.Errorf("merged audio parts %s", got)
	}
	ready(merged, "0003AB.MXF")
	if p := get(spanned.ID).Proxy; p == nil || p.Status != "ready" || p.Frames != 75 {
		t.Fatalf("whole shot: proxy %+v", p)
	}
	checkAudio(t, ffprobe, ffmpeg, ClipProxyPath(state, spanned.ID), 3.0, "10:00:00:00", []string{"Mix", "A1 (ch 1)", "A2 (ch 2)"})

	// Card B offloaded again (a resumed offload re-records its clips): no
	// duplicate parts.
	offload("uuid:B", "CARDB", folderB)
	if got := strings.Join(videoParts(get(spanned.ID)), ","); got != "0001AB.MXF,0002AB.MXF,0003AB.MXF" {
		t.Errorf("after re-recording card B: parts %s", got)
	}
	evs, _ := cat.Events(0, 10000)
	n := 0
	for _, ev := range evs {
		if ev.Type == EvClipProxyReady && ev.Path == spanned.ID {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d clip.proxy_ready events for the shot, want 2 (card A's spans, then the whole shot)", n)
	}
}

var reRMS = regexp.MustCompile(`RMS level dB: (-?[0-9.]+|-inf)`)

// checkAudio asserts a clip proxy has a 48 kHz stereo AAC track as long as
// its video, with sound on both sides, and the given start timecode; with
// tracks, its audio tracks are named so (the mix, then one mono track per
// channel), else it has the mix only.
func checkAudio(t *testing.T, ffprobe, ffmpeg, file string, secs float64, tc string, tracks []string) {
	t.Helper()
	out, err := exec.Command(ffprobe, "-v", "error", "-show_entries",
		"stream=codec_type,codec_name,channels,sample_rate,duration:stream_tags=timecode,handler_name:format_tags=timecode", "-of", "default=nw=1", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	s := string(out)
	if n := strings.Count(s, "codec_type=audio"); n != max(len(tracks), 1) {
		t.Errorf("%s: %d audio tracks, want %d:\n%s", filepath.Base(file), n, max(len(tracks), 1), s)
	}
	for _, name := range tracks {
		if !strings.Contains(s, "TAG:handler_name="+name+"\n") {
			t.Errorf("%s: no audio track named %q:\n%s", filepath.Base(file), name, s)
		}
	}
	for _, want := range []string{"codec_name=aac", "channels=2", "sample_rate=48000", "timecode=" + tc} {
		if !strings.Contains(s, want) {
			t.Errorf("%s lacks %s:\n%s", filepath.Base(file), want, s)
		}
	}
	for _, l := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(l, "duration="); ok {
			d, _ := strconv.ParseFloat(v, 64)
			if d < secs-0.07 || d > secs+0.07 {
				t.Errorf("%s: a stream lasts %v s, want %v", filepath.Base(file), d, secs)
			}
		}
	}
	b, err := exec.Command(ffmpeg, "-hide_banner", "-nostdin", "-i", file, "-map", "0:a:0", "-af", "astats", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("astats: %v: %s", err, b)
	}
	m := reRMS.FindAllStringSubmatch(string(b), -1)
	if len(m) < 2 {
		t.Fatalf("astats printed no per-channel RMS:\n%s", b)
	}
	for i, c := range m[:2] {
		if v, err := strconv.ParseFloat(c[1], 64); err != nil || v < -30 {
			t.Errorf("%s: channel %d RMS %s dB: silent", filepath.Base(file), i+1, c[1])
		}
	}
}

// Parts of one shot recorded card by card in any order end up in shot
// order; the record's card and metadata are those of the first span.
func TestMergeClipOrder(t *testing.T) {
	part := func(card, name string, off int64, role string) ClipPart {
		return ClipPart{Role: role, Path: card + "/" + name, Card: card, Offset: off}
	}
	a := ClipDoc{ID: "x", CardKey: "A", CardLabel: "A", Name: "0001AB", Cards: []ClipCard{{Key: "A", Label: "A"}},
		Parts: []ClipPart{part("A", "0001AB.MXF", 0, "video"), part("A", "0001AB00.MXF", 0, "audio"), part("A", "0001AB.XML", 0, "sidecar")}}
	b := ClipDoc{ID: "x", CardKey: "B", CardLabel: "B", Name: "0007CD", Cards: []ClipCard{{Key: "B", Label: "B"}},
		Parts: []ClipPart{part("B", "0007CD.MXF", 900, "video"), part("B", "0007CD00.MXF", 900, "audio"), part("B", "0007CD.XML", 900, "sidecar")},
		Proxy: &ClipProxy{Status: "ready"}}
	for _, tc := range []struct {
		name       string
		prev, next ClipDoc
	}{{"first card first", a, b}, {"second card first", b, a}} {
		t.Run(tc.name, func(t *testing.T) {
			m := mergeClip(tc.prev, tc.next)
			var got []string
			for _, p := range m.Parts {
				got = append(got, p.Path)
			}
			want := "A/0001AB.MXF,B/0007CD.MXF,A/0001AB00.MXF,B/0007CD00.MXF,A/0001AB.XML,B/0007CD.XML"
			if strings.Join(got, ",") != want {
				t.Errorf("parts %v, want %s", got, want)
			}
			if m.CardKey != "A" || m.Name != "0001AB" || len(m.Cards) != 2 || m.Cards[0].Key != "A" {
				t.Errorf("record card %s name %s cards %+v", m.CardKey, m.Name, m.Cards)
			}
			if m.Proxy != nil {
				t.Errorf("proxy kept over changed parts: %+v", m.Proxy)
			}
			// Merging the same card again changes nothing.
			if again := mergeClip(m, tc.next); !slices.Equal(again.Parts, m.Parts) || len(again.Cards) != 2 {
				t.Errorf("re-merge: %+v", again.Parts)
			}
		})
	}
}

func TestIncomplete(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spans []ClipSpan
		want  bool
	}{
		{"not spanned", nil, false},
		{"one whole span", []ClipSpan{{Offset: 0, Duration: 100}}, false},
		{"contiguous", []ClipSpan{{Offset: 0, Duration: 100}, {Offset: 100, Duration: 50}}, false},
		{"first span missing", []ClipSpan{{Offset: 100, Duration: 50}}, true},
		{"gap", []ClipSpan{{Offset: 0, Duration: 100}, {Offset: 150, Duration: 50}}, true},
		{"next span elsewhere", []ClipSpan{{Offset: 0, Duration: 100, Next: "X"}}, true},
	} {
		if got := incomplete(tc.spans); got != tc.want {
			t.Errorf("%s: incomplete = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// An XDCAM EX take recorded over two cards (spans _01 and _02 on one, _03
// on the next) is one clip with its spans in order; the same take name
// from the same camera after a counter reset (span _01 again) is a clip of
// its own; a take without a camera serial is never joined across cards.
func TestXDCAMEXTakeAcrossCards(t *testing.T) {
	cat := catalogtest.Open(t, t.TempDir())
	vol := t.TempDir()
	nrt, err := os.ReadFile("../../../testdata/cards/sidecars/sony_nrt.xml")
	if err != nil {
		t.Fatal(err)
	}
	noSerial := []byte(strings.Replace(string(nrt), `serialNo="5012345"`, "", 1))
	write := func(folder string, spans []string, meta []byte) {
		for _, sp := range spans {
			dir := filepath.Join(vol, folder, "BPAV/CLPR", sp)
			os.MkdirAll(dir, 0o755)
			os.WriteFile(filepath.Join(dir, sp+".MP4"), []byte("essence "+folder+sp), 0o644)
			os.WriteFile(filepath.Join(dir, sp+"M01.XML"), meta, 0o644)
			os.WriteFile(filepath.Join(dir, sp+".SMI"), []byte("<smil/>"), 0o644)
		}
		os.WriteFile(filepath.Join(vol, folder, "BPAV/MEDIAPRO.XML"), []byte("<MediaProfile/>"), 0o644)
	}
	write("A", []string{"709_0001_01", "709_0001_02"}, nrt)
	write("B", []string{"709_0001_03"}, nrt)
	write("C", []string{"709_0001_01"}, nrt)
	write("D", []string{"710_0002_01"}, noSerial)
	write("E", []string{"710_0002_02"}, noSerial)
	s := &Service{cat: cat, log: slogDiscard(), vols: map[string]string{"v": vol}}
	offload := func(card string) ClipDoc {
		t.Helper()
		files := catalogTree(t, cat, vol, card)
		rec := &Record{Key: "uuid:" + card, Label: card, Volume: "v", Folder: card}
		if _, err := s.recordClips(rec, cards.Result{Dst: filepath.Join(vol, card), Layout: cards.LayoutSonyXDCAMEX, Files: files}, storage.OriginInfo{}); err != nil {
			t.Fatal(err)
		}
		if len(rec.Clips) != 1 {
			t.Fatalf("card %s: %d clips, want 1", card, len(rec.Clips))
		}
		d, err := cat.Clip(rec.Clips[0])
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a := offload("A")
	if got := strings.Join(videoParts(a), ","); got != "709_0001_01.MP4,709_0001_02.MP4" || a.Incomplete {
		t.Fatalf("card A: %s incomplete=%v", got, a.Incomplete)
	}
	b := offload("B")
	if b.ID != a.ID {
		t.Fatalf("card B's span _03 made clip %s, not the take's %s", b.ID, a.ID)
	}
	var spans []string
	for _, p := range b.Parts {
		if p.Role == "video" {
			spans = append(spans, p.Card+":"+path.Base(p.Path))
		}
	}
	if got := strings.Join(spans, ","); got != "uuid:A:709_0001_01.MP4,uuid:A:709_0001_02.MP4,uuid:B:709_0001_03.MP4" {
		t.Errorf("take over two cards: %s", got)
	}
	if b.Incomplete || len(b.Spans) != 3 || len(b.Cards) != 2 || b.CardKey != "uuid:A" {
		t.Errorf("take over two cards: incomplete=%v spans %+v cards %+v record card %s", b.Incomplete, b.Spans, b.Cards, b.CardKey)
	}
	if c := offload("C"); c.ID == a.ID || len(videoParts(c)) != 1 {
		t.Errorf("a reset counter's 709_0001_01 joined the earlier take: %s %v", c.ID, videoParts(c))
	}
	if got := strings.Join(videoParts(b), ","); got != "709_0001_01.MP4,709_0001_02.MP4,709_0001_03.MP4" {
		t.Errorf("the earlier take changed: %s", got)
	}
	d, e := offload("D"), offload("E")
	if d.ID == e.ID {
		t.Error("takes without a camera serial joined across cards")
	}
	if !e.Incomplete {
		t.Error("a take starting at span _02 is not marked incomplete")
	}
}
