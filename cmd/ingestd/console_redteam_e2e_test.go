package main_test

// The console tried the way a new user and an attacker would (issue 13 red
// team), in a real browser on the real daemon: timecode at the rates
// cameras shoot, and no request storm when events come in bursts.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/storage"
)

// consoleRateClip writes a 3 s H.264 clip at rate with start timecode tc
// (";" before the frames: drop-frame) to dst.
func consoleRateClip(t *testing.T, dst, rate, tc string) {
	t.Helper()
	consoleFF(t, dst, "-f", "lavfi", "-i", "testsrc2=size=320x180:rate="+rate, "-t", "3", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-timecode", tc)
}

// TestConsoleE2ETimecodeRates: the source timecode of the playhead frame is
// exact at 29.97 drop-frame (across a minute where frame numbers 00 and 01
// are dropped), 25 fps and 23.976, each starting at a non-zero timecode;
// the frame buttons step one frame.
func TestConsoleE2ETimecodeRates(t *testing.T) {
	testenv.Need(t, "ffmpeg")
	testenv.Need(t, "ffprobe")
	consoleChromium(t)
	e := newEnv(t, "", "")
	e.start()
	defer e.stop()

	clips := []struct {
		name, rate, start string
		fps               float64
		frames            map[int]string // frame index in the clip -> its source timecode
		last              int            // the clip's last frame (3 s)
		lastTC            string
	}{
		{"df2997.mov", "30000/1001", "01:00:59;00", 30000.0 / 1001, map[int]string{0: "01:00:59;00", 29: "01:00:59;29", 30: "01:01:00;02", 31: "01:01:00;03", 61: "01:01:01;03"}, 89, "01:01:02;01"},
		{"pal25.mov", "25", "10:00:00:00", 25, map[int]string{0: "10:00:00:00", 37: "10:00:01:12", 50: "10:00:02:00", 73: "10:00:02:23"}, 74, "10:00:02:24"},
		{"film23976.mov", "24000/1001", "00:59:59:12", 24000.0 / 1001, map[int]string{11: "00:59:59:23", 12: "01:00:00:00", 35: "01:00:00:23", 36: "01:00:01:00"}, 71, "01:00:02:11"},
	}
	for _, c := range clips {
		consoleRateClip(t, filepath.Join(e.watch, c.name), c.rate, c.start)
	}
	evs := e.waitFeed(120*time.Second, "three proxies ready", func(evs []storage.Event) bool {
		for _, c := range clips {
			if id := consoleFeedAsset(evs, storage.EvLocationAdded, c.name); id == "" || !consoleHasEvent(evs, storage.EvProxyReady, id) {
				return false
			}
		}
		return true
	})
	b := newConsoleBrowser(t, "http://"+e.addr, 1280, 720)
	for _, c := range clips {
		id := consoleFeedAsset(evs, storage.EvLocationAdded, c.name)
		b.open("#/asset/" + id)
		b.waitJS(c.name+" player ready", `(() => { const v = document.getElementById('player'); return v && v.readyState >= 2; })()`, 30*time.Second)
		if want, ok := c.frames[0]; ok {
			b.waitJS(c.name+" reads its start timecode at load", fmt.Sprintf(`document.getElementById('tc').innerText === %q`, want), 10*time.Second)
		}
		for f, want := range c.frames {
			consoleEval[chromedp.Void](b, fmt.Sprintf(`(() => { const v = document.getElementById('player'); v.pause(); v.currentTime = %.6f; return null; })()`, (float64(f)+0.5)/c.fps))
			b.waitJS(fmt.Sprintf("%s frame %d reads %s", c.name, f, want),
				fmt.Sprintf(`document.getElementById('tc').dataset.frame === '%d' && document.getElementById('tc').innerText === %q`, f, want), 10*time.Second)
		}
		// At the end (currentTime === duration, the clip played out) the
		// picture is the last frame, and so is the timecode; frame ▶ stays
		// there, ◀ frame steps to the one before.
		consoleEval[chromedp.Void](b, `(() => { const v = document.getElementById('player'); v.pause(); v.currentTime = v.duration; return null; })()`)
		b.waitJS(fmt.Sprintf("%s at its end reads its last frame %d, %s", c.name, c.last, c.lastTC),
			fmt.Sprintf(`document.getElementById('tc').dataset.frame === '%d' && document.getElementById('tc').innerText === %q`, c.last, c.lastTC), 10*time.Second)
		b.do(c.name+" next frame at the end", chromedp.Click(chromedp.CSS(`button[aria-label="Next frame"]`)))
		b.waitJS(c.name+" next frame at the end stays on the last", fmt.Sprintf(`document.getElementById('tc').dataset.frame === '%d'`, c.last), 10*time.Second)
		b.do(c.name+" previous frame", chromedp.Click(chromedp.CSS(`button[aria-label="Previous frame"]`)))
		b.waitJS(c.name+" stepped back one frame", fmt.Sprintf(`document.getElementById('tc').dataset.frame === '%d'`, c.last-1), 10*time.Second)
		b.shot(strings.TrimSuffix(c.name, ".mov"))
	}
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}

// TestConsoleE2ENoRequestStorm: with Problems open, a burst of failed
// proxies (a card's worth of clips FFmpeg cannot read) must not make the
// page send one search per event (each search reads up to 20,000 assets):
// the reloads are coalesced, and the table still ends up listing every
// failure.
func TestConsoleE2ENoRequestStorm(t *testing.T) {
	testenv.Need(t, "ffmpeg")
	testenv.Need(t, "ffprobe")
	consoleChromium(t)
	wrapDir := t.TempDir()
	wrapper := filepath.Join(wrapDir, "ffmpeg")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\necho 'injected failure' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "", "ffmpeg: "+wrapper+"\n")
	e.start()
	defer e.stop()

	// n distinct real clips (one encode, then remuxes with their own tag).
	const n = 40
	src := filepath.Join(t.TempDir(), "base.mov")
	if out, err := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25",
		"-t", "1", "-c:v", "libx264", "-y", src).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	stage := t.TempDir()
	for i := range n {
		p := filepath.Join(stage, fmt.Sprintf("BURST_%03d.mov", i))
		if out, err := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-i", src, "-c", "copy", "-metadata", fmt.Sprintf("comment=clip %d", i), "-y", p).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg remux: %v\n%s", err, out)
		}
	}

	b := newConsoleBrowser(t, "http://"+e.addr, 1280, 720)
	b.open("#/problems")
	b.waitJS("problems page", `document.querySelector('table.failed tbody tr')`, 15*time.Second)
	b.waitJS("live", `document.getElementById('conn').innerText.includes('live')`, 10*time.Second)
	// Count the page's searches from now on.
	consoleEval[chromedp.Void](b, `(() => { window.__searches = 0; const f = window.fetch; window.fetch = (u, o) => { if (String(u).includes('proxy=failed')) window.__searches++; return f(u, o); }; return null; })()`)
	start := time.Now()
	for i := range n {
		name := fmt.Sprintf("BURST_%03d.mov", i)
		if out, err := exec.Command("cp", filepath.Join(stage, name), filepath.Join(e.watch, name)).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
	}
	e.waitFeed(120*time.Second, "every clip's proxy failed", func(evs []storage.Event) bool {
		ids := map[string]bool{}
		for _, ev := range evs {
			if ev.Type == storage.EvLocationAdded && strings.HasPrefix(ev.Path, "BURST_") {
				ids[ev.AssetID] = true
			}
		}
		failed := 0
		for id := range ids {
			if consoleHasEvent(evs, storage.EvProxyFailed, id) {
				failed++
			}
		}
		return failed == n
	})
	b.waitJS("every failed proxy listed", fmt.Sprintf(`document.querySelectorAll('table.failed tbody tr[data-id]').length === %d`, n), 30*time.Second)
	took := time.Since(start)
	searches := consoleEval[int](b, `window.__searches`)
	// Coalesced: at most one search every 2 s (plus the last one after the
	// burst). One per event would be n.
	if limit := int(took/(2*time.Second)) + 2; searches > limit || searches >= n {
		t.Errorf("%d proxy.failed events in %v made the Problems page search %d times (want at most %d: reloads coalesced)", n, took.Round(time.Millisecond), searches, limit)
	}
	t.Logf("%d failures in %v: %d searches", n, took.Round(time.Millisecond), searches)
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}

// consoleFF runs ffmpeg with args and copies its output (the last arg) to
// dst: a file that appears whole, as a copy onto the NAS does.
func consoleFF(t *testing.T, dst string, args ...string) {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), filepath.Base(dst))
	out, err := exec.Command("ffmpeg", append(append([]string{"-nostdin", "-loglevel", "error"}, args...), "-y", tmp)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", dst, err, out)
	}
	if out, err := exec.Command("cp", tmp, dst).CombinedOutput(); err != nil {
		t.Fatalf("drop %s: %v %s", dst, err, out)
	}
}

// TestConsoleE2ENewUser: what someone who has not seen our fixtures meets
// first: every page on an empty catalog, then a still image, an audio-only
// file, a text file and a PNG frame sequence, each page rendering without
// an error, the image shown, the audio playing with its waveform.
func TestConsoleE2ENewUser(t *testing.T) {
	testenv.Need(t, "ffmpeg")
	testenv.Need(t, "ffprobe")
	consoleChromium(t)
	e := newEnv(t, "", "sequences:\n  settle: 1s\n")
	e.start()
	defer e.stop()
	b := newConsoleBrowser(t, "http://"+e.addr, 1280, 720)

	noError := func(page string) {
		t.Helper()
		if n := consoleEval[int](b, `document.querySelectorAll('#main .error').length`); n != 0 {
			t.Errorf("%s: %d error(s) shown: %s", page, n, consoleEval[string](b, `document.getElementById('main').innerText.slice(0, 500)`))
		}
		if errs := b.pageErrors(); len(errs) > 0 {
			t.Errorf("%s: page errors %v", page, errs)
		}
	}
	// An empty catalog.
	for _, p := range []struct{ hash, ready string }{
		{"#/overview", `document.querySelector('table.volumes tr[data-volume="footage"]')`},
		{"#/cards", `document.getElementById('cards')?.innerText.includes('No card mounted')`},
		{"#/assets", `document.getElementById('assets-info')?.innerText.includes('end of the catalog')`},
		{"#/events", `document.querySelector('table.events tr[data-type="appliance.started"]')`},
		{"#/problems", `document.querySelector('table.failed tbody tr')`},
	} {
		b.open(p.hash)
		b.waitJS("empty catalog: "+p.hash, p.ready, 15*time.Second)
		noError("empty " + p.hash)
		b.shot("empty-" + strings.TrimPrefix(p.hash, "#/"))
	}

	// A still, an audio-only file, a text file, a frame sequence.
	consoleFF(t, filepath.Join(e.watch, "still.png"), "-f", "lavfi", "-i", "testsrc2=size=640x360", "-frames:v", "1")
	consoleFF(t, filepath.Join(e.watch, "tone.wav"), "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "3", "-ac", "2")
	e.writeFile("notes.txt", []byte("call sheet\n"))
	if err := os.MkdirAll(filepath.Join(e.watch, "render"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{1, 2, 3, 5, 6} { // frame 1004 missing
		consoleFF(t, filepath.Join(e.watch, "render", fmt.Sprintf("shot.%04d.png", 1000+i)), "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=320x180,drawbox=x=%d:y=10:w=20:h=20:c=red:t=fill", 20*i), "-frames:v", "1")
	}
	evs := e.waitFeed(120*time.Second, "still, tone and text cataloged, the still's and tone's proxies ready", func(evs []storage.Event) bool {
		for _, n := range []string{"still.png", "tone.wav"} {
			if id := consoleFeedAsset(evs, storage.EvLocationAdded, n); id == "" || !consoleHasEvent(evs, storage.EvProxyReady, id) {
				return false
			}
		}
		return consoleFeedAsset(evs, storage.EvLocationAdded, "notes.txt") != ""
	})
	still := consoleFeedAsset(evs, storage.EvLocationAdded, "still.png")
	b.open("#/asset/" + still)
	b.waitJS("the still's page shows its image", `(() => { const i = document.querySelector('img.still'); return i && i.complete && i.naturalWidth > 0; })()`, 15*time.Second)
	noError("still's page")
	b.shot("asset-still")

	tone := consoleFeedAsset(evs, storage.EvLocationAdded, "tone.wav")
	b.open("#/asset/" + tone)
	b.waitJS("the tone's page has an audio player", `document.querySelector('audio#player')`, 15*time.Second)
	consoleEval[chromedp.Void](b, `(() => { const v = document.getElementById('player'); v.muted = true; return v.play().then(() => null); })()`)
	b.waitJS("the tone plays", `(() => { const v = document.getElementById('player'); return v.readyState >= 3 && v.currentTime > 0.3; })()`, 20*time.Second)
	b.waitJS("the tone's waveform", `Number(document.querySelector('.wave')?.dataset.peaks) > 0`, 15*time.Second)
	b.waitJS("the tone's position reads hh:mm:ss.mmm", `/^00:00:0\d\.\d{3}$/.test(document.getElementById('tc').innerText)`, 10*time.Second)
	noError("tone's page")
	b.shot("asset-audio")

	notes := consoleFeedAsset(evs, storage.EvLocationAdded, "notes.txt")
	b.open("#/asset/" + notes)
	b.waitJS("the text file's page", `document.querySelector('#main h1')?.innerText.includes('notes.txt')`, 15*time.Second)
	noError("text file's page")

	// Assets: search by kind finds the still; by name the frames.
	b.open("#/assets?kind=image")
	b.waitJS("kind=image lists the still", fmt.Sprintf(`document.querySelector('tr[data-id=%q]')`, still), 15*time.Second)
	b.open("#/assets?q=" + "shot.10")
	b.waitJS("search by name lists the five frames", `document.querySelectorAll('table.assets tbody tr[data-id]').length === 5`, 15*time.Second)
	noError("assets search")
	b.shot("assets-frames")

	// The frames are one sequence: listed on Sequences, its page plays
	// the proxy (one frame per present frame) and names the frame under
	// the playhead past the gap: the proxy's 4th frame is 1005.
	var seqID string
	deadline := time.Now().Add(90 * time.Second)
	for seqID == "" {
		var doc struct {
			Sequences []struct {
				ID    string `json:"id"`
				Proxy *struct {
					Status string `json:"status"`
				} `json:"proxy"`
			} `json:"sequences"`
		}
		if code, body := e.get("/v1/sequences", ""); code == 200 && json.Unmarshal(body, &doc) == nil {
			for _, sq := range doc.Sequences {
				if sq.Proxy != nil && sq.Proxy.Status == "ready" {
					seqID = sq.ID
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sequence with a ready proxy after 90 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.open("#/sequences")
	b.waitJS("the sequence listed", fmt.Sprintf(`document.querySelector('table.sequences tr[data-id=%q]')?.innerText.includes('shot.%%04d.png')`, seqID), 15*time.Second)
	if txt := consoleEval[string](b, fmt.Sprintf(`document.querySelector('table.sequences tr[data-id=%q]').innerText`, seqID)); !strings.Contains(txt, "1001–1006") {
		t.Errorf("sequence row: %q, want the frame range 1001–1006", txt)
	}
	b.shot("sequences")
	b.do("open the sequence", chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-id=%q] a`, seqID))))
	b.waitJS("the sequence's player ready", `(() => { const v = document.getElementById('player'); return v && v.readyState >= 2; })()`, 15*time.Second)
	consoleEval[chromedp.Void](b, `(() => { const v = document.getElementById('player'); v.pause(); v.currentTime = 3.5 / 24; return null; })()`)
	b.waitJS("the 4th proxy frame is frame 1005 (1004 missing)", `document.getElementById('tc').dataset.frame === '1005' && document.getElementById('frame-no').innerText.includes('4 of 5')`, 10*time.Second)
	if txt := consoleEval[string](b, `document.querySelector('[aria-label="Details"]').innerText`); !strings.Contains(txt, "1004") {
		t.Errorf("sequence details do not list the missing frame 1004:\n%s", txt)
	}
	noError("sequence page")
	b.shot("sequence")

	// A 375 px phone: the navigation and the new pages fit.
	b.do("phone viewport", chromedp.EmulateViewport(375, 812, chromedp.EmulateScale(2)))
	for _, h := range []string{"#/overview", "#/sequences", "#/sequence/" + seqID} {
		b.open(h)
		b.waitJS(h+" on a phone", `document.querySelector('#main h1')`, 15*time.Second)
		if w := consoleEval[int](b, `document.documentElement.scrollWidth`); w > 375 {
			b.shot("phone-too-wide")
			t.Errorf("%s on a 375 px phone is %d px wide", h, w)
		}
	}
}

// TestConsoleE2EEventsNoGapAtLoad: the Events page loads the feed and then
// shows new events live; events written while the page loads (its stream
// not yet connected, or delivered before the page subscribed) must not
// fall between the two. Files are written continuously while the console
// is left and opened again, eight times; each time it loads (no stream
// kept by the pages left) and its rows are exactly the feed's events in
// their range.
func TestConsoleE2EEventsNoGapAtLoad(t *testing.T) {
	consoleChromium(t)
	e := newEnv(t, "", "")
	e.start()
	defer e.stop()
	b := newConsoleBrowser(t, "http://"+e.addr, 1280, 720)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			p := filepath.Join(e.watch, fmt.Sprintf("load-%05d.txt", i))
			if err := os.WriteFile(p, []byte(fmt.Sprintf("file %d\n", i)), 0o644); err != nil {
				return
			}
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-done
	}()
	var loads [][]int
	for range 8 {
		b.do("blank", chromedp.Navigate("about:blank"))
		b.open("#/events")
		// Each console left for another page must give its stream back: a
		// browser holds 6 connections to a host, and streams kept by pages
		// in the back-forward cache stall a later load's requests.
		b.waitJS(fmt.Sprintf("events page %d live", len(loads)+1), `document.getElementById('conn').innerText.includes('live') && document.querySelector('table.events tbody tr')`, 8*time.Second)
		time.Sleep(1500 * time.Millisecond)
		loads = append(loads, consoleEval[[]int](b, `[...document.querySelectorAll('table.events tbody tr[data-seq]')].map(r => Number(r.dataset.seq))`))
	}
	close(stop)
	<-done
	feed := map[int]bool{}
	for _, ev := range e.feedAll() {
		feed[int(ev.Seq)] = true
	}
	for i, seqs := range loads {
		if len(seqs) == 0 {
			t.Fatalf("load %d: no rows", i)
		}
		lo, hi := seqs[0], seqs[0]
		got := map[int]bool{}
		for _, s := range seqs {
			lo, hi = min(lo, s), max(hi, s)
			if got[s] {
				t.Errorf("load %d: seq %d shown twice", i, s)
			}
			got[s] = true
		}
		var missing []int
		for s := lo; s <= hi; s++ {
			if feed[s] && !got[s] {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 {
			t.Errorf("load %d: rows %d–%d miss the feed's events %v (written while the page loaded)", i, lo, hi, missing)
		}
	}
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}
