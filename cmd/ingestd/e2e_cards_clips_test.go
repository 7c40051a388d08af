package main_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/cards/cardsvc"
	"github.com/ingestd/ingestd/internal/miniotest"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/storage"
	cardgen "github.com/ingestd/ingestd/testdata/cards"
)

// Cards with real media, end to end through the real binary: a GoPro card
// with a clip in three chapters and a P2 shot spanned over two cards, its
// sound in separate mono MXF files. Each card is offloaded and verified, the
// daemon cuts every part's proxy, then one proxy per clip (the GoPro
// chapters joined; the P2 spans joined with their audio mixed in, and cut
// again when the second card brings the last span), and pushes clip.json
// and the clip proxy to the bucket.
func TestCardClipsToBucket(t *testing.T) {
	cardsNeedRoot(t)
	ffmpeg := testenv.Need(t, "ffmpeg")
	ffprobe := testenv.Need(t, "ffprobe")
	const bucket = "studio-hub"
	m := miniotest.Start(t)
	m.CreateBucket(t, bucket)
	root := filepath.Join(t.TempDir(), "media")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const shot = "060A2B340101010501010D43130000005A1F0D8E3B0C5A0080458201D2B0AAAA"
	gopro := newCardTree(t, root, "GOPRO7", "32M", func(dir string) {
		if err := cardgen.GoProChapters(ctx, ffmpeg, dir, 7, 3, 25); err != nil {
			t.Fatal(err)
		}
	})
	p2a := newCardTree(t, root, "P2CARD1", "32M", func(dir string) {
		if err := cardgen.P2Shot(ctx, ffmpeg, dir, shot, []cardgen.P2Span{
			{Clip: "0001AB", Offset: 0, Frames: 30, Timecode: "10:00:00:00", Next: "0002AB"},
			{Clip: "0002AB", Offset: 30, Frames: 20, Timecode: "10:00:01:05", Next: "0003AB"},
		}, 2); err != nil {
			t.Fatal(err)
		}
	})
	p2b := newCardTree(t, root, "P2CARD2", "32M", func(dir string) {
		if err := cardgen.P2Shot(ctx, ffmpeg, dir, shot, []cardgen.P2Span{
			{Clip: "0003AB", Offset: 50, Frames: 25, Timecode: "10:00:02:00"},
		}, 2); err != nil {
			t.Fatal(err)
		}
	})
	e := newEnv(t, "", "appliance_id: box1\nproxy:\n  gpu: off\n  filmstrip_tiles: 4\n"+
		"cards:\n  mount_roots: ["+root+"]\n  offload_to: footage\n  path: \"{label}\"\n  poll: 200ms\n"+
		"hub:\n  s3:\n    endpoint: "+m.Endpoint+"\n    bucket: "+bucket+"\n    prefix: edge\n    path_style: true\n    retry_min: 200ms\n    retry_max: 2s\n")
	e.extraEnv = miniotest.Env()
	e.start()
	defer e.stop()

	// clipReady waits for a clip.proxy_ready of the clip whose parts
	// include file, with frames frames, and returns the clip id.
	clipReady := func(file string, frames int64) string {
		t.Helper()
		var id string
		e.waitFeed(mediaTimeout, "clip proxy of "+file, func(evs []storage.Event) bool {
			for _, ev := range evs {
				if ev.Type != cardsvc.EvClipProxyReady {
					continue
				}
				var cp cardsvc.ClipProxy
				json.Unmarshal([]byte(ev.Detail), &cp)
				var doc cardsvc.ClipDoc
				if err := e.client().Get(ctx, "/v1/clips/"+ev.Path, nil, &doc); err != nil {
					continue
				}
				for _, p := range doc.Parts {
					if strings.HasSuffix(p.Path, "/"+file) && cp.Frames == frames {
						id = ev.Path
						return true
					}
				}
			}
			return false
		})
		return id
	}
	// inBucket waits until the bucket's clip.json of id says frames, then
	// checks the clip proxy there is the one the daemon serves.
	inBucket := func(id string, frames int64) []byte {
		t.Helper()
		key := path.Join("edge/box1/clips", id)
		deadline := time.Now().Add(mediaTimeout)
		for {
			var doc cardsvc.ClipDoc
			for _, o := range m.List(t, bucket) {
				if o.Key == key+"/clip.json" {
					json.Unmarshal(m.Get(t, bucket, o.Key), &doc)
				}
			}
			if doc.Proxy != nil && doc.Proxy.Frames == frames {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("clip %s: bucket clip.json proxy %+v, want %d frames\n%s", id, doc.Proxy, frames, e.stderr.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
		remote := m.Get(t, bucket, key+"/proxy.mp4")
		code, local := e.get("/v1/clips/"+id+"/proxy", "")
		if code != 200 || string(local) != string(remote) || len(remote) == 0 {
			t.Fatalf("clip %s: served proxy (%d, %d bytes) differs from the bucket's (%d bytes)", id, code, len(local), len(remote))
		}
		return remote
	}
	probe := func(data []byte) string {
		t.Helper()
		f := filepath.Join(t.TempDir(), "p.mp4")
		os.WriteFile(f, data, 0o644)
		out, err := exec.Command(ffprobe, "-v", "error", "-count_packets", "-show_entries",
			"stream=codec_type,codec_name,channels,sample_rate,nb_read_packets:stream_tags=timecode,handler_name:format=duration", "-of", "default=nw=1", f).Output()
		if err != nil {
			t.Fatalf("ffprobe clip proxy: %v", err)
		}
		return string(out)
	}

	gopro.Insert()
	p2a.Insert()
	gid := clipReady("GX010007.MP4", 75)
	g := probe(inBucket(gid, 75))
	for _, want := range []string{"codec_type=video", "nb_read_packets=75", "codec_type=audio"} {
		if !strings.Contains(g, want) {
			t.Errorf("GoPro clip proxy lacks %s:\n%s", want, g)
		}
	}

	sid := clipReady("0001AB.MXF", 50)
	var partial cardsvc.ClipDoc
	if err := e.client().Get(ctx, "/v1/clips/"+sid, nil, &partial); err != nil || !partial.Incomplete {
		t.Errorf("shot with its last span on a card not offloaded yet: incomplete=%v (%v)", partial.Incomplete, err)
	}
	p2b.Insert()
	if again := clipReady("0003AB.MXF", 75); again != sid {
		t.Fatalf("the second card's span made clip %s, not the shot's %s", again, sid)
	}
	s := probe(inBucket(sid, 75))
	for _, want := range []string{"nb_read_packets=75", "codec_name=aac", "channels=2", "sample_rate=48000", "timecode=10:00:00:00",
		"handler_name=Mix", "handler_name=A1 (ch 1)", "handler_name=A2 (ch 2)"} {
		if !strings.Contains(s, want) {
			t.Errorf("P2 shot proxy lacks %s:\n%s", want, s)
		}
	}
	for _, l := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(l, "duration="); ok {
			if d, _ := strconv.ParseFloat(v, 64); d < 2.95 || d > 3.1 {
				t.Errorf("P2 shot proxy lasts %v s, want 3", d)
			}
		}
	}
	var doc cardsvc.ClipDoc
	if err := e.client().Get(ctx, "/v1/clips/"+sid, nil, &doc); err != nil {
		t.Fatal(err)
	}
	var vids, auds []string
	for _, p := range doc.Parts {
		switch p.Role {
		case "video":
			vids = append(vids, p.Path)
		case "audio":
			auds = append(auds, path.Base(p.Path))
		}
		if p.AssetID == "" {
			t.Errorf("part %s has no asset id", p.Path)
		}
	}
	if strings.Join(vids, ",") != "P2CARD1/CONTENTS/VIDEO/0001AB.MXF,P2CARD1/CONTENTS/VIDEO/0002AB.MXF,P2CARD2/CONTENTS/VIDEO/0003AB.MXF" || len(auds) != 6 {
		t.Errorf("shot parts: video %v audio %v", vids, auds)
	}
	if doc.Incomplete || len(doc.Spans) != 3 {
		t.Errorf("whole shot: incomplete=%v spans %+v", doc.Incomplete, doc.Spans)
	}
	if len(doc.Cards) != 2 || doc.Cards[0].Label != "P2CARD1" || doc.Cards[1].Label != "P2CARD2" || doc.Meta == nil || doc.Meta.Manufacturer != "Panasonic" {
		t.Errorf("shot cards %+v meta %+v", doc.Cards, doc.Meta)
	}
	// Masters never leave the building: only proxies and documents.
	for _, o := range m.List(t, bucket) {
		if strings.HasSuffix(strings.ToUpper(o.Key), ".MXF") || strings.HasSuffix(o.Key, "GX010007.MP4") {
			t.Errorf("a master in the bucket: %s", o.Key)
		}
	}
}
