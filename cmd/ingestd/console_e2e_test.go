package main_test

// End-to-end tests of the web console (issue 13, docs/console.md): the real
// daemon, real media and mounts, and a real headless Chromium driven over
// the DevTools protocol (chromedp). Screenshots of each page go to
// $INGESTD_TEST_OUT/console (default: a folder under the temp dir, logged);
// with INGESTD_CONSOLE_DOCS=1 the overview and asset page are also written
// to docs/img/ for the README.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/ingestd/ingestd/internal/miniotest"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
)

// consoleBrowser is one headless Chromium tab on a daemon's console.
type consoleBrowser struct {
	t    *testing.T
	ctx  context.Context
	base string
	out  string

	mu   sync.Mutex
	errs []string // uncaught exceptions, console errors, CSP violations
}

// consoleChromium finds Debian's chromium (CI installs it: a missing one
// fails there, see internal/testenv).
func consoleChromium(t *testing.T) string {
	t.Helper()
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return testenv.Need(t, "chromium")
}

func consoleOutDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("INGESTD_TEST_OUT")
	if base == "" {
		base = filepath.Join(os.TempDir(), "ingestd-test-out")
	}
	dir := filepath.Join(base, "console", t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("console screenshots in %s", dir)
	return dir
}

func newConsoleBrowser(t *testing.T, base string, w, h int) *consoleBrowser {
	t.Helper()
	exe := consoleChromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.WindowSize(w, h),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", true), chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &consoleBrowser{t: t, ctx: ctx, base: base, out: consoleOutDir(t)}
	t.Cleanup(func() { cancel(); cancelA() })
	if err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				msg = "console.error: " + strings.Join(parts, " ")
			}
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError && !strings.Contains(ev.Entry.Text, "401") && !strings.Contains(ev.Entry.Text, "403") {
				msg = "log: " + ev.Entry.Text + " " + ev.Entry.URL
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.errs = append(b.errs, msg)
			b.mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// pageErrors returns what the page reported as errors, and forgets them.
func (b *consoleBrowser) pageErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.errs
	b.errs = nil
	return e
}

func (b *consoleBrowser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v (page errors: %v)", what, err, b.pageErrors())
	}
}

func (b *consoleBrowser) open(hash string) {
	b.t.Helper()
	b.do("open "+hash, chromedp.Navigate(b.base+"/"+hash))
}

// eval runs a JS expression (awaiting a promise) and decodes its value.
func consoleEval[T any](b *consoleBrowser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("eval %s: %v", js, err)
	}
	return v
}

// waitJS polls a JS boolean expression until true; it returns how long it took.
func (b *consoleBrowser) waitJS(what, js string, timeout time.Duration) time.Duration {
	b.t.Helper()
	start := time.Now()
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+js+")", chromedp.EvalAwaitPromise))
		cancel()
		if err == nil && ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string]("document.getElementById('main').innerText.slice(0, 2000)"))
			b.shot("timeout-" + strings.Map(func(r rune) rune {
				if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
					return r
				}
				return '-'
			}, strings.ToLower(what)))
			b.t.Fatalf("%s: not within %s (last error %v; page errors %v); page text:\n%s", what, timeout, err, b.pageErrors(), text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// shot saves a PNG of the viewport as <out>/<name>.png and returns its path.
func (b *consoleBrowser) shot(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	p := filepath.Join(b.out, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return p
}

// consoleDocsCopy copies a screenshot to docs/img when INGESTD_CONSOLE_DOCS=1.
func consoleDocsCopy(t *testing.T, src, name string) {
	if os.Getenv("INGESTD_CONSOLE_DOCS") != "1" || src == "" {
		return
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("..", "..", "docs", "img", name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// consoleClip writes a 4 s 25 fps H.264/AAC clip with start timecode
// 01:00:00:00 at p (made elsewhere, then renamed in: a "drop").
func consoleClip(t *testing.T, p string, hz int) { consoleClipLen(t, p, hz, 4) }

// consoleClipLen is consoleClip of secs seconds.
func consoleClipLen(t *testing.T, p string, hz, secs int) {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), filepath.Base(p))
	out, err := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=%d:sample_rate=48000", hz), "-t", fmt.Sprint(secs), "-c:v", "libx264", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-timecode", "01:00:00:00", "-y", tmp).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg clip: %v\n%s", err, out)
	}
	if out, err := exec.Command("cp", tmp, p).CombinedOutput(); err != nil {
		t.Fatalf("drop %s: %v %s", p, err, out)
	}
}

// flipByteKeepingTimes flips one bit of the byte at off in p and puts the
// file's modification time back: a corruption that size and mtime do not
// show (only a fixity check finds it).
func flipByteKeepingTimes(t *testing.T, p string, off int64) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	b[0] ^= 0x01
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatalf("write %s: %v", p, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// consoleFeedAsset returns the asset id of the first event of typ at a
// path ending in suffix.
func consoleFeedAsset(evs []storage.Event, typ, suffix string) string {
	for _, ev := range evs {
		if ev.Type == typ && strings.HasSuffix(ev.Path, suffix) {
			return ev.AssetID
		}
	}
	return ""
}

func consoleHasEvent(evs []storage.Event, typ, id string) bool {
	for _, ev := range evs {
		if ev.Type == typ && ev.AssetID == id {
			return true
		}
	}
	return false
}

// TestConsoleE2E drives the console of a tokenless loopback daemon whose
// volume is a real tmpfs: the overview, a dropped clip's asset page playing
// its proxy with frame-accurate source timecode, a failed proxy retried from
// the Problems page, a loop-mounted card's progress turning SAFE TO
// FORMAT, the live events page, and the volume going OFFLINE on the
// overview within seconds of a real umount.
func TestConsoleE2E(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Need(t, "ffmpeg")
	testenv.Need(t, "ffprobe")
	cardsNeedRoot(t)
	consoleChromium(t)

	root := filepath.Join(t.TempDir(), "media")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	// ffmpeg wrapper: fails for BROKEN_* masters while the flag exists
	// (a fault to fix, then retry from the console).
	wrapDir := t.TempDir()
	flag := filepath.Join(wrapDir, "fail-broken")
	realFF, _ := exec.LookPath("ffmpeg")
	wrapper := filepath.Join(wrapDir, "ffmpeg")
	script := fmt.Sprintf("#!/bin/sh\ncase \"$*\" in *BROKEN_*) [ -e %q ] && { echo 'injected failure' >&2; exit 1; } ;; esac\nexec %q \"$@\"\n", flag, realFF)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "", "ffmpeg: "+wrapper+"\ndisk:\n  min_free: 4096\n"+
		"cards:\n  mount_roots: ["+root+"]\n  offload_to: footage\n  poll: 200ms\n  read_mbps: 4\n")
	testutil.Run(t, "mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", e.watch)
	mounted := true
	t.Cleanup(func() {
		if mounted {
			exec.Command("umount", "-l", e.watch).Run()
		}
	})
	card := newCard(t, root, "CONSOLE1", "48M", map[string]string{
		"DCIM/100GOPRO/GX010001.MP4": "10000000", "DCIM/100GOPRO/GX010002.MP4": "10000000",
	})
	e.start()
	defer func() {
		if !t.Failed() {
			e.stop()
		}
	}()
	base := "http://" + e.addr
	b := newConsoleBrowser(t, base, 1280, 720)

	// Overview: the volume online, live.
	b.open("#/overview")
	b.waitJS("overview shows footage ONLINE", `document.querySelector('table.volumes tr[data-volume="footage"] .vol-state')?.innerText.includes('ONLINE')`, 20*time.Second)
	b.waitJS("live connection", `document.getElementById('conn').innerText.includes('live')`, 10*time.Second)

	// A clip and a BROKEN clip are dropped; the broken one's proxy fails.
	consoleClip(t, filepath.Join(e.watch, "A001_C001.mov"), 440)
	consoleClip(t, filepath.Join(e.watch, "BROKEN_C002.mov"), 880)
	var clipID, brokenID string
	e.waitFeed(3*time.Minute, "proxy.ready for the clip and proxy.failed for the broken one", func(evs []storage.Event) bool {
		clipID = consoleFeedAsset(evs, storage.EvLocationAdded, "A001_C001.mov")
		brokenID = consoleFeedAsset(evs, storage.EvLocationAdded, "BROKEN_C002.mov")
		return clipID != "" && brokenID != "" && consoleHasEvent(evs, storage.EvProxyReady, clipID) && consoleHasEvent(evs, storage.EvProxyFailed, brokenID)
	})
	b.shot("overview")

	// Assets: server-side search by name finds the clip, with its poster.
	b.open("#/assets?q=a001_c001")
	b.waitJS("assets search lists the clip", fmt.Sprintf(`document.querySelector('table.assets tr[data-id=%q] img.poster')?.naturalWidth > 0`, clipID), 20*time.Second)
	if n := consoleEval[int](b, `document.querySelectorAll('table.assets tbody tr').length`); n != 1 {
		t.Errorf("search a001_c001: %d rows, want 1", n)
	}
	b.shot("assets")

	// The asset page plays the proxy (Range-served) and shows the source
	// timecode of the playhead frame.
	b.do("open the asset page", chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-id=%q] a`, clipID))))
	b.waitJS("video element", `document.getElementById('player')`, 10*time.Second)
	consoleEval[chromedp.Void](b, `(() => { const v = document.getElementById('player'); v.muted = true; return v.play().then(() => null); })()`)
	b.waitJS("proxy plays (readyState >= 3, currentTime advances)", `(() => { const v = document.getElementById('player'); return v.readyState >= 3 && v.currentTime > 0.5; })()`, 30*time.Second)
	consoleEval[chromedp.Void](b, `(() => { const v = document.getElementById('player'); v.pause(); v.currentTime = 2.02; return null; })()`)
	b.waitJS("playhead at frame 50 shows 01:00:02:00", `document.getElementById('tc').dataset.frame === '50' && document.getElementById('tc').innerText === '01:00:02:00'`, 10*time.Second)
	b.waitJS("waveform drawn", `Number(document.querySelector('.wave')?.dataset.peaks) > 0`, 10*time.Second)
	// Scrubbing the filmstrip (a click at 75%) moves the playhead there.
	consoleEval[chromedp.Void](b, `(() => { const s = document.querySelector('.strip'); const r = s.getBoundingClientRect();
		s.dispatchEvent(new PointerEvent('pointerdown', {clientX: r.left + r.width * 0.75, clientY: r.top + 5, pointerId: 1, bubbles: true}));
		s.dispatchEvent(new PointerEvent('pointerup', {clientX: r.left + r.width * 0.75, clientY: r.top + 5, pointerId: 1, bubbles: true})); return null; })()`)
	b.waitJS("filmstrip scrub to 3 s", `Math.abs(document.getElementById('player').currentTime - 3) < 0.1 && document.getElementById('tc').innerText.startsWith('01:00:03:')`, 10*time.Second)
	// The filmstrip slider says where the playhead is (value and timecode).
	b.waitJS("filmstrip slider value follows the playhead", `(() => { const s = document.querySelector('.strip'); return s.getAttribute('aria-valuenow') === '3' && s.getAttribute('aria-valuetext') === document.getElementById('tc').innerText; })()`, 5*time.Second)
	// Keyboard: ArrowLeft on the focused slider steps back a second.
	b.do("focus the filmstrip", chromedp.Focus(chromedp.CSS(".strip")), chromedp.KeyEvent(kb.ArrowLeft))
	b.waitJS("ArrowLeft on the filmstrip steps back", `Math.abs(document.getElementById('player').currentTime - 2) < 0.1 && document.querySelector('.strip').getAttribute('aria-valuenow') === '2'`, 10*time.Second)
	if ranges := consoleEval[int](b, `performance.getEntriesByType('resource').filter(r => r.name.includes('/proxy')).length`); ranges == 0 {
		t.Errorf("the page did not load the proxy")
	}
	b.waitJS("asset events listed", `document.querySelector('.events tr[data-type="proxy.ready"]')`, 10*time.Second)
	consoleEval[chromedp.Void](b, `(() => { document.getElementById('player').currentTime = 1.0; window.scrollTo(0, 0); return null; })()`)
	time.Sleep(300 * time.Millisecond)
	as := b.shot("asset")
	consoleDocsCopy(t, as, "console-asset.png")

	// An audio file: its page plays the m4a proxy and draws the waveform.
	wav := filepath.Join(t.TempDir(), "sound_01.wav")
	if out, err := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=330:sample_rate=48000:duration=3",
		"-ac", "2", "-y", wav).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg wav: %v %s", err, out)
	}
	testutil.Run(t, "cp", wav, filepath.Join(e.watch, "sound_01.wav"))
	var wavID string
	e.waitFeed(2*time.Minute, "proxy.ready for the wav", func(evs []storage.Event) bool {
		wavID = consoleFeedAsset(evs, storage.EvLocationAdded, "sound_01.wav")
		return wavID != "" && consoleHasEvent(evs, storage.EvProxyReady, wavID)
	})
	b.open("#/asset/" + wavID)
	b.waitJS("audio element", `document.querySelector('audio#player')`, 10*time.Second)
	b.waitJS("audio waveform drawn", `Number(document.querySelector('.wave')?.dataset.peaks) > 0`, 10*time.Second)
	consoleEval[chromedp.Void](b, `document.getElementById('player').play().then(() => null)`)
	b.waitJS("audio proxy plays", `(() => { const a = document.getElementById('player'); return a.readyState >= 3 && a.currentTime > 0.3; })()`, 20*time.Second)
	b.shot("asset-audio")

	// Problems: the failed proxy is listed; the fault is fixed and Retry
	// makes the proxy.
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	b.open("#/problems")
	b.waitJS("failed proxy listed", fmt.Sprintf(`document.querySelector('table.failed tr[data-id=%q] button.retry')`, brokenID), 20*time.Second)
	b.shot("problems")
	b.do("click Retry proxy", chromedp.Click(chromedp.CSS(fmt.Sprintf(`table.failed tr[data-id=%q] button.retry`, brokenID))))
	b.waitJS("retry accepted", fmt.Sprintf(`document.querySelector('table.failed tr[data-id=%q] .result')?.innerText.includes('queued again')`, brokenID), 10*time.Second)
	e.waitFeed(2*time.Minute, "proxy.ready for the retried asset", func(evs []storage.Event) bool {
		return consoleHasEvent(evs, storage.EvProxyReady, brokenID)
	})

	// Cards: the card's progress bar moves, then SAFE TO FORMAT.
	b.open("#/cards")
	b.waitJS("cards page", `document.getElementById('cards')`, 10*time.Second)
	// A mount without a camera layout (a USB stick) is shown as ignored:
	// it has no key and no record, which the page once threw on.
	stick := newCardTree(t, root, "STICK1", "16M", func(dir string) {
		testutil.Must(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a clip"), 0o644))
	})
	stick.Insert()
	b.waitJS("the stick shown as not a camera card", `[...document.querySelectorAll('#cards article.card')].some(a => a.innerText.includes('Not a camera card'))`, 20*time.Second)
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Fatalf("the cards page reported errors on a mount without a camera layout: %v", errs)
	}
	stick.Eject()
	card.Insert()
	var seen []float64
	var rateETA string // a destination bar's text with a rate and an ETA
	deadline := time.Now().Add(90 * time.Second)
	for {
		v := consoleEval[[]float64](b, `[...document.querySelectorAll('#cards article.card .bar.dest progress')].map(p => Number(p.value))`)
		if rateETA == "" {
			rateETA = consoleEval[string](b, `[...document.querySelectorAll('#cards article.card .bar.dest')].map(e => e.innerText).find(t => /[KMG]iB\/s/.test(t) && /ETA \d/.test(t)) || ''`)
		}
		if len(v) > 0 && v[0] > 0 && v[0] < 100 && (len(seen) == 0 || seen[len(seen)-1] != v[0]) {
			seen = append(seen, v[0])
			if len(seen) == 2 {
				b.shot("cards-copying")
			}
		}
		safe := consoleEval[string](b, `document.querySelector('#cards article.card[data-safe="yes"] .safe')?.innerText || ''`)
		if strings.Contains(safe, "SAFE TO FORMAT") && !strings.Contains(safe, "NOT SAFE") {
			break
		}
		if not := consoleEval[string](b, `document.querySelector('#cards article.card .safe')?.innerText || ''`); len(seen) == 0 && strings.Contains(not, "SAFE TO FORMAT") && !strings.Contains(not, "NOT") {
			t.Fatalf("SAFE TO FORMAT before any progress was shown")
		}
		if time.Now().After(deadline) {
			b.shot("cards-timeout")
			t.Fatalf("card not SAFE TO FORMAT in the console within 90 s; progress seen %v; page errors %v", seen, b.pageErrors())
		}
		time.Sleep(150 * time.Millisecond)
	}
	if len(seen) < 2 || seen[len(seen)-1] <= seen[0] {
		t.Errorf("the card's progress bar did not move: values seen %v", seen)
	}
	if rateETA == "" {
		t.Errorf("no destination bar showed a rate and an ETA while copying")
	} else {
		t.Logf("destination bar while copying: %q", rateETA)
	}
	if txt := consoleEval[string](b, `document.querySelector('#cards article.card').innerText`); !strings.Contains(txt, "footage/") {
		t.Errorf("card article lacks its destination:\n%s", txt)
	}
	// The card's offload report (GET /v1/cards/{id}/report) is linked
	// once it is safe, and loads.
	b.waitJS("report link of the safe card", `document.querySelector('#cards article.card[data-safe="yes"] a.report')`, 20*time.Second)
	b.waitJS("the offload report loads", `fetch(document.querySelector('#cards article.card a.report').href).then(r => r.ok && (r.headers.get('Content-Type') || '').startsWith('text/html'))`, 20*time.Second)
	b.shot("cards")
	t.Logf("card progress values seen: %v", seen)
	b.open("#/overview")
	b.waitJS("overview lists the card", `document.querySelector('a[href="#/cards"]')`, 10*time.Second)
	time.Sleep(1500 * time.Millisecond) // one more status snapshot
	consoleDocsCopy(t, b.shot("overview-after-card"), "console-overview.png")

	// Events: the live feed, filtered by type.
	b.open("#/events?type=proxy.ready")
	b.waitJS("events filtered to proxy.ready", `document.querySelectorAll('.events tbody tr').length >= 2 && [...document.querySelectorAll('.events tbody tr')].every(r => r.dataset.type === 'proxy.ready')`, 10*time.Second)
	b.open("#/events")
	b.waitJS("events page", `document.querySelector('.events tbody tr')`, 10*time.Second)
	b.shot("events")

	// The volume goes offline on a real umount: the overview says so
	// within seconds, without a reload.
	b.open("#/overview")
	b.waitJS("overview online again", `document.querySelector('table.volumes tr[data-volume="footage"] .vol-state')?.innerText.includes('ONLINE')`, 10*time.Second)
	if out, err := exec.Command("umount", e.watch).CombinedOutput(); err != nil {
		t.Logf("umount: %v %s; lazy", err, out)
		testutil.Run(t, "umount", "-l", e.watch)
	}
	mounted = false
	took := b.waitJS("overview shows footage OFFLINE", `document.querySelector('table.volumes tr[data-volume="footage"] .vol-state')?.innerText.includes('OFFLINE')`, 20*time.Second)
	t.Logf("OFFLINE shown %s after the umount", took.Round(10*time.Millisecond))
	if txt := consoleEval[string](b, `document.getElementById('warnings').innerText`); !strings.Contains(txt, "footage") || !strings.Contains(txt, "OFFLINE") {
		t.Errorf("warnings do not name the offline volume: %q", txt)
	}
	b.shot("overview-offline")
	// Problems lists it with the rescan action.
	b.open("#/problems")
	b.waitJS("offline volume on Problems with rescan", `document.querySelector('p[data-volume="footage"] button')`, 10*time.Second)
	b.do("click rescan", chromedp.Click(chromedp.CSS(`p[data-volume="footage"] button`)))
	b.waitJS("rescan accepted", `document.querySelector('p[data-volume="footage"] .result')?.innerText.includes('requested')`, 10*time.Second)
	if n := consoleEval[string](b, `document.getElementById('problem-count').innerText`); n == "" || n == "0" {
		t.Errorf("nav problem count %q with a volume offline", n)
	}
	b.shot("problems-offline")

	// Phone width: the overview still fits (no horizontal scroll of the page).
	b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	b.open("#/overview")
	b.waitJS("overview on a phone", `document.querySelector('table.volumes')`, 10*time.Second)
	if w := consoleEval[int](b, `document.documentElement.scrollWidth`); w > 400 {
		t.Errorf("overview on a 390 px phone is %d px wide", w)
	}
	b.shot("overview-phone")
	// The other pages too: the card with its SAFE box and destination
	// bars, the video's asset page, Events.
	for _, pg := range []struct{ hash, ready string }{
		{"#/cards", `document.querySelector('#card-history article.card .safe, #cards article.card .safe')`},
		{"#/asset/" + clipID, `document.querySelector('video#player') && document.querySelector('.strip')`},
		{"#/events", `document.querySelector('.events tbody tr')`},
		{"#/assets", `document.querySelector('table.assets tbody tr')`},
	} {
		b.open(pg.hash)
		b.waitJS("phone: "+pg.hash, pg.ready, 10*time.Second)
		if w := consoleEval[int](b, `document.documentElement.scrollWidth`); w > 390 {
			b.shot("phone-too-wide")
			t.Errorf("%s on a 390 px phone is %d px wide", pg.hash, w)
		}
	}
	b.shot("assets-phone")
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("the page reported errors: %v", errs)
	}
}

// TestConsoleE2EAuth: with api.token_file the console shows a login form;
// the token is exchanged for an HttpOnly, SameSite=Strict session cookie
// that the API accepts; a state-changing request with the cookie needs the
// session's CSRF token; pages carry the security headers.
func TestConsoleE2EAuth(t *testing.T) {
	consoleChromium(t)
	e := newEnv(t, "console-secret-token", "")
	e.start()
	defer e.stop()
	base := "http://" + e.addr

	// Security headers, without a token (static files hold no data).
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") ||
		!strings.Contains(csp, "frame-ancestors 'none'") || resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("GET /: %d, headers %v", resp.StatusCode, resp.Header)
	}
	if code, _ := e.get("/v1/status", ""); code != 401 {
		t.Errorf("/v1/status without token: %d, want 401", code)
	}

	b := newConsoleBrowser(t, base, 1280, 720)
	b.open("")
	b.waitJS("login form", `document.getElementById('login')`, 15*time.Second)
	if st := consoleEval[int](b, `fetch('/v1/status').then(r => r.status)`); st != 401 {
		t.Errorf("the page's /v1/status before login: %d, want 401", st)
	}
	b.shot("login")
	b.do("wrong token", chromedp.SendKeys(chromedp.ID("token"), "wrong"), chromedp.Click(chromedp.CSS(`#login button[type=submit]`)))
	b.waitJS("wrong token refused", `document.getElementById('login-error').innerText.includes('Wrong token')`, 10*time.Second)
	consoleEval[chromedp.Void](b, `(() => { document.getElementById('token').value = ''; return null; })()`)
	b.do("right token", chromedp.SendKeys(chromedp.ID("token"), "console-secret-token"), chromedp.Click(chromedp.CSS(`#login button[type=submit]`)))
	b.waitJS("overview after login", `document.querySelector('table.volumes tr[data-volume="footage"]')`, 15*time.Second)
	b.waitJS("live after login", `document.getElementById('conn').innerText.includes('live')`, 10*time.Second)

	// The cookie: HttpOnly (not in document.cookie), SameSite=Strict.
	cookies, err := chromedp.Run(b.ctx, func(ctx context.Context, tg *chromedp.Target) ([]*network.Cookie, error) {
		r, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
		return r.Cookies, err
	})
	if err != nil {
		t.Fatal(err)
	}
	var sess *network.Cookie
	for _, c := range cookies {
		if c.Name == "ingestd_session" {
			sess = c
		}
	}
	if sess == nil || !sess.HTTPOnly || sess.SameSite != network.CookieSameSiteStrict || sess.Value == "" || sess.Value == "console-secret-token" {
		t.Fatalf("session cookie: %+v", sess)
	}
	if dc := consoleEval[string](b, `document.cookie`); strings.Contains(dc, "ingestd_session") {
		t.Errorf("session cookie readable by script: %q", dc)
	}
	// CSRF: a POST with the cookie but without the session's token is 403;
	// with it, 202.
	noCSRF := consoleEval[int](b, `fetch('/v1/volumes/footage/rescan', {method: 'POST', headers: {'X-Ingestd-Request': '1'}}).then(r => r.status)`)
	withCSRF := consoleEval[int](b, `fetch('/v1/session').then(r => r.json()).then(s => fetch('/v1/volumes/footage/rescan', {method: 'POST', headers: {'X-Ingestd-CSRF': s.csrf}})).then(r => r.status)`)
	if noCSRF != 403 || withCSRF != 202 {
		t.Errorf("rescan with the cookie: without CSRF %d (want 403), with %d (want 202)", noCSRF, withCSRF)
	}
	// The cookie outside the browser: GET works, POST without CSRF is 403.
	req, _ := http.NewRequest("POST", base+"/v1/volumes/footage/rescan", nil)
	req.AddCookie(&http.Cookie{Name: "ingestd_session", Value: sess.Value})
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 403 {
		t.Errorf("POST with the cookie and no CSRF header: %v %v", r, err)
	} else {
		r.Body.Close()
	}
	req, _ = http.NewRequest("GET", base+"/v1/status", nil)
	req.AddCookie(&http.Cookie{Name: "ingestd_session", Value: sess.Value})
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 200 {
		t.Errorf("GET /v1/status with the cookie: %v %v", r, err)
	} else {
		var st map[string]any
		json.NewDecoder(r.Body).Decode(&st)
		r.Body.Close()
		if st["appliance_id"] == nil {
			t.Errorf("status with the cookie: %v", st)
		}
	}
	b.shot("overview-logged-in")

	// Keyboard: Tab reaches the skip link, then the page links in order;
	// Enter follows one.
	b.do("reload", chromedp.Navigate(base+"/#/overview"))
	b.waitJS("overview", `document.querySelector('table.volumes')`, 10*time.Second)
	consoleEval[chromedp.Void](b, `(() => { document.activeElement && document.activeElement.blur(); window.focus(); return null; })()`)
	// (The first key event may only give the page focus.)
	for i := 0; i < 3 && consoleEval[string](b, `document.activeElement.className`) != "skip"; i++ {
		b.do("tab", chromedp.KeyEvent("\t"))
	}
	if cls := consoleEval[string](b, `document.activeElement.className`); cls != "skip" {
		t.Errorf("Tab does not reach the skip link first (focus on %q)", cls)
	}
	for _, want := range []string{"Overview", "Cards"} {
		b.do("tab", chromedp.KeyEvent("\t"))
		if txt := consoleEval[string](b, `document.activeElement.innerText`); txt != want {
			t.Errorf("Tab focuses %q, want the %s link", txt, want)
		}
	}
	b.do("enter", chromedp.KeyEvent("\r"))
	b.waitJS("Enter on Cards opens the cards page", `location.hash === '#/cards' && document.getElementById('cards')`, 10*time.Second)

	// The daemon restarts (sessions live in its memory): the open tab's
	// stream is refused (401), and the page asks to log in again instead of
	// going stale; logging in brings it back live.
	e.stop()
	e.start()
	b.waitJS("login form after the daemon restarted", `document.getElementById('login') && document.getElementById('login-error').innerText.includes('session ended')`, 30*time.Second)
	b.pageErrors() // the refused connections while the daemon was away
	b.do("log in again", chromedp.SendKeys(chromedp.ID("token"), "console-secret-token"), chromedp.Click(chromedp.CSS(`#login button[type=submit]`)))
	b.waitJS("live again after logging in", `document.getElementById('conn').innerText.includes('live') && document.getElementById('cards')`, 15*time.Second)

	// Log out: the cookie no longer works.
	b.do("log out", chromedp.Click(chromedp.ID("logout")))
	b.waitJS("login form after logout", `document.getElementById('login')`, 10*time.Second)
	if st := consoleEval[int](b, `fetch('/v1/status').then(r => r.status)`); st != 401 {
		t.Errorf("/v1/status after logout: %d, want 401", st)
	}
	req, _ = http.NewRequest("GET", base+"/v1/status", nil)
	req.AddCookie(&http.Cookie{Name: "ingestd_session", Value: sess.Value})
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 401 {
		t.Errorf("GET with the logged-out cookie: %v %v", r, err)
	} else {
		r.Body.Close()
	}
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("the page reported errors: %v", errs)
	}
}

// TestConsoleE2ETokenlessCSRF: without a token (loopback), the console is
// open, and the console actions keep the API's rule for state-changing
// requests (X-Ingestd-Request or JSON), so a cross-site form cannot act.
func TestConsoleE2ETokenlessCSRF(t *testing.T) {
	e := newEnv(t, "", "")
	e.start()
	defer e.stop()
	base := "http://" + e.addr
	// The volume's watcher starts after the API answers: until the daemon
	// is ready, a rescan of it is 404 (no such volume yet).
	consoleWaitReady(t, e)
	for _, tc := range []struct {
		name   string
		header bool
		want   int
	}{{"form post", false, 403}, {"console request", true, 202}} {
		req, _ := http.NewRequest("POST", base+"/v1/volumes/footage/rescan", strings.NewReader("a=b"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tc.header {
			req.Header.Set("X-Ingestd-Request", "1")
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, r.StatusCode, tc.want)
		}
	}
	// A foreign Host (DNS rebinding) cannot load the console either.
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Host = "evil.example:" + strings.Split(e.addr, ":")[1]
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 421 {
		t.Errorf("console with a foreign Host: %v %v, want 421", r, err)
	} else {
		r.Body.Close()
	}
	code, body := e.get("/v1/session", "")
	if code != 200 || !strings.Contains(string(body), `"auth":"none"`) {
		t.Errorf("/v1/session tokenless: %d %s", code, body)
	}
}

// consoleWaitReady waits until /v1/status says ready (every volume
// watched).
func consoleWaitReady(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := e.get("/v1/status", e.token)
		var st struct {
			Ready bool `json:"ready"`
		}
		if code == 200 && json.Unmarshal(body, &st) == nil && st.Ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 30 s: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestConsoleE2EWebhookUnpark: the hub rejects a batch (400): the webhook
// parks, the overview and Problems say so, and Un-park on Problems sends
// the batch again once the hub accepts it.
func TestConsoleE2EWebhookUnpark(t *testing.T) {
	consoleChromium(t)
	var accept atomic.Bool
	var got atomic.Int64
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !accept.Load() {
			http.Error(w, "schema mismatch", http.StatusBadRequest)
			return
		}
		var body struct {
			Events []storage.Event `json:"events"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		got.Add(int64(len(body.Events)))
		w.WriteHeader(200)
	}))
	defer hub.Close()
	tok := filepath.Join(t.TempDir(), "hub-token")
	if err := os.WriteFile(tok, []byte("hubtoken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "", "hub:\n  webhook:\n    url: "+hub.URL+"/events\n    token_file: "+tok+"\n    retry_min: 200ms\n    retry_max: 1s\n")
	e.start()
	defer e.stop()
	b := newConsoleBrowser(t, "http://"+e.addr, 1280, 720)
	b.open("#/overview")
	b.waitJS("overview warns of the parked webhook", `document.getElementById('warnings')?.innerText.includes('Webhook PARKED')`, 30*time.Second)
	b.open("#/problems")
	b.waitJS("Problems offers Un-park", `document.getElementById('unpark')`, 10*time.Second)
	if n := consoleEval[string](b, `document.getElementById('problem-count').innerText`); n != "1" {
		t.Errorf("nav problem count %q, want 1", n)
	}
	b.shot("problems-parked")
	if got.Load() != 0 {
		t.Fatalf("events delivered while parked: %d", got.Load())
	}
	accept.Store(true)
	b.do("click Un-park", chromedp.Click(chromedp.ID("unpark")))
	b.waitJS("un-park accepted", `document.querySelector('#unpark + .result, #unpark ~ .result')?.innerText.includes('un-parked')`, 10*time.Second)
	b.waitJS("Problems: delivering again", `document.querySelector('[aria-label="Webhook"]')?.innerText.includes('Delivering')`, 20*time.Second)
	if got.Load() == 0 {
		t.Errorf("the hub received no event after Un-park")
	}
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("the page reported errors: %v", errs)
	}
	// Un-park while delivering is refused (409), not a silent no-op.
	if st := consoleEval[int](b, `fetch('/v1/sync/webhook/unpark', {method: 'POST', headers: {'X-Ingestd-Request': '1'}}).then(r => r.status)`); st != 409 {
		t.Errorf("un-park while delivering: %d, want 409", st)
	}
}

// TestConsoleE2EHubSync: with a real S3 hub (MinIO) behind a bandwidth
// window, the overview shows the upload in flight with its progress bar
// and rate, the window in force, then the backlog drained.
func TestConsoleE2EHubSync(t *testing.T) {
	consoleChromium(t)
	testenv.Need(t, "ffmpeg")
	testenv.Need(t, "ffprobe")
	const bucket = "console-hub"
	m := miniotest.Start(t)
	m.CreateBucket(t, bucket)
	e := newEnv(t, "", "proxy:\n  gpu: off\nhub:\n  s3:\n    endpoint: "+m.Endpoint+"\n    bucket: "+bucket+"\n    prefix: edge\n    path_style: true\n"+
		"    retry_min: 200ms\n    retry_max: 2s\n    bandwidth:\n      - {from: \"00:00\", to: \"00:00\", rate: \"256KiB/s\"}\n")
	e.extraEnv = miniotest.Env()
	e.start()
	defer e.stop()
	b := newConsoleBrowser(t, "http://"+e.addr, 1280, 720)
	b.open("#/overview")
	hubPanel := `document.querySelector('section[aria-label="Hub sync"]')`
	b.waitJS("hub sync panel with the window in force", hubPanel+`?.innerText.includes('256.0 KiB/s (window in force)')`, 20*time.Second)
	consoleClipLen(t, filepath.Join(e.watch, "S001_C001.mov"), 660, 12)
	var jobSeen bool
	var upload []float64
	deadline := time.Now().Add(3 * time.Minute)
	for len(upload) < 2 {
		if consoleEval[bool](b, `!!document.querySelector('section[aria-label="Queues"] .bar progress')`) {
			jobSeen = true
		}
		v := consoleEval[[]float64](b, `[...document.querySelectorAll('section[aria-label="Hub sync"] .bar')].filter(e => e.innerText.includes('proxy.mp4') && /\/s/.test(e.innerText)).map(e => Number(e.querySelector('progress').value))`)
		if len(v) > 0 && v[0] > 0 && v[0] < 100 && (len(upload) == 0 || upload[len(upload)-1] != v[0]) {
			upload = append(upload, v[0])
			if len(upload) == 1 {
				b.shot("overview-uploading")
			}
		}
		if time.Now().After(deadline) {
			b.shot("hub-timeout")
			t.Fatalf("no proxy upload in flight with progress and rate on the overview; values %v; page errors %v", upload, b.pageErrors())
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("upload progress seen: %v; proxy job progress bar seen: %v", upload, jobSeen)
	if upload[1] <= upload[0] {
		t.Errorf("the upload's bar did not move forward: %v", upload)
	}
	b.waitJS("backlog drained", hubPanel+`?.innerText.includes('Backlog\n0 assets, 0 objects')`, 2*time.Minute)
	if txt := consoleEval[string](b, hubPanel+`.innerText`); strings.Contains(txt, "Last success\nnever") {
		t.Errorf("hub panel after the upload:\n%s", txt)
	}
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("the page reported errors: %v", errs)
	}
}

// TestConsoleE2EHostileNames: names on a volume are data, never markup: HTML
// and script in names and a name that is not UTF-8 show as text on every
// page, run nothing and break no CSP rule. In a browser far from UTC the
// assets search by first-seen date means the browser's day, times show in
// its zone; and the tab holds one event stream across all pages.
func TestConsoleE2EHostileNames(t *testing.T) {
	testenv.Need(t, "ffmpeg")
	testenv.Need(t, "ffprobe")
	consoleChromium(t)
	e := newEnv(t, "", "")
	e.start()
	defer e.stop()
	b := newConsoleBrowser(t, "http://"+e.addr, 1280, 720)
	var streams atomic.Int64
	if err := chromedp.Listen(b.ctx, func(ev any) {
		if r, ok := ev.(*network.EventRequestWillBeSent); ok && strings.Contains(r.Request.URL, "/v1/events/stream") {
			streams.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}
	// A zone whose date differs from UTC's now: UTC-11 before 11:00 UTC
	// (its yesterday), else UTC+14 (its tomorrow).
	zone := "Pacific/Pago_Pago"
	if time.Now().UTC().Hour() >= 11 {
		zone = "Pacific/Kiritimati"
	}
	if _, err := chromedp.Run(b.ctx, func(ctx context.Context, tg *chromedp.Target) (cdp.Empty, error) {
		return cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone})
	}); err != nil {
		t.Fatalf("time zone %s: %v", zone, err)
	}

	imgName := `<img src=x onerror="window.__pwned=1">.wav`
	svgName := `"><svg onload=window.__pwned=2>&amp;.mov`
	rawName := "clip-\xff\xfe.wav"
	for i, n := range []string{imgName, rawName} {
		wav := filepath.Join(t.TempDir(), "tone.wav")
		if out, err := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=%d:sample_rate=48000:duration=2", 300+100*i),
			"-y", wav).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg wav: %v %s", err, out)
		}
		data, err := os.ReadFile(wav)
		if err != nil {
			t.Fatal(err)
		}
		e.writeFile(n, data)
	}
	e.writeFile(svgName, []byte(strings.Repeat("not a movie\n", 500))) // a broken file
	e.waitFeed(2*time.Minute, "three locations and two audio proxies", func(evs []storage.Event) bool {
		var added, ready int
		for _, ev := range evs {
			switch ev.Type {
			case storage.EvLocationAdded:
				added++
			case storage.EvProxyReady:
				ready++
			}
		}
		return added >= 3 && ready >= 2
	})

	b.open("#/overview")
	b.waitJS("overview live", `document.getElementById('conn').innerText.includes('live') && document.querySelector('table.volumes')`, 20*time.Second)
	nav := func(hash string) {
		t.Helper()
		consoleEval[chromedp.Void](b, fmt.Sprintf(`(() => { location.hash = %q; return null; })()`, hash))
	}
	const clean = `window.__pwned === undefined && !document.querySelector('main img[src="x"], main svg, main [onerror], main [onload]')`
	wantNames := func(where, text string) {
		t.Helper()
		for _, n := range []string{imgName, svgName, "clip-\ufffd\ufffd.wav"} {
			if !strings.Contains(text, n) {
				t.Errorf("%s does not show the name %q as text:\n%s", where, n, text)
			}
		}
	}

	// Assets: the names as text.
	nav("#/assets")
	b.waitJS("assets listed", `document.querySelectorAll('table.assets tbody tr').length === 3`, 20*time.Second)
	b.waitJS("no markup from names on Assets", clean, 5*time.Second)
	wantNames("Assets", consoleEval[string](b, `document.querySelector('table.assets').innerText`))
	b.shot("hostile-assets")

	// First seen in the browser's zone, and the date search by its day.
	local := consoleEval[string](b, `(() => { const d = new Date(); return d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0'); })()`)
	if utc := time.Now().UTC().Format("2006-01-02"); local == utc {
		t.Fatalf("the browser in %s has UTC's date %s: the test cannot tell the zones apart", zone, local)
	}
	if tz := consoleEval[string](b, `Intl.DateTimeFormat().resolvedOptions().timeZone`); tz != zone {
		t.Fatalf("browser zone %q, want %q", tz, zone)
	}
	shown := consoleEval[string](b, `document.querySelector('table.assets tbody time').innerText`)
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	if lang := consoleEval[string](b, `navigator.language`); lang != "en-US" {
		t.Logf("browser language %s: the shown time %q is not checked", lang, shown)
	} else if want := time.Now().In(loc); !strings.HasPrefix(shown, want.Format("1/2/2006, ")) {
		t.Errorf("first seen %q is not in the browser's zone (%s: %s)", shown, zone, want.Format(time.DateTime))
	}
	nav("#/assets?since=" + local + "&until=" + local)
	b.waitJS("search by the browser's date finds the three", `document.querySelectorAll('table.assets tbody tr').length === 3 && document.getElementById('assets-info').innerText.includes('end of the catalog')`, 20*time.Second)
	if v := consoleEval[string](b, `document.querySelector('form.search input[name=since]').value`); v != local {
		t.Errorf("the date field shows %q, want %q", v, local)
	}

	// The asset page of the HTML-named file.
	b.do("open the asset", chromedp.Click(chromedp.CSS(`table.assets tbody tr a[href^="#/asset/"]`)))
	b.waitJS("asset page", `document.querySelector('main h1') && document.querySelector('.kv')`, 10*time.Second)
	nav("#/assets?q=onerror")
	b.waitJS("search by a hostile name", `document.querySelectorAll('table.assets tbody tr').length === 1`, 20*time.Second)
	b.do("open the hostile asset", chromedp.Click(chromedp.CSS(`table.assets tbody tr a[href^="#/asset/"]`)))
	b.waitJS("asset page titled with the name as text", fmt.Sprintf(`document.querySelector('main h1')?.innerText.startsWith(%q) && document.querySelector('audio#player')`, imgName), 10*time.Second)
	b.waitJS("asset events", `document.querySelector('.events tr[data-type="proxy.ready"]')`, 10*time.Second)
	b.waitJS("no markup from names on the asset page", clean, 5*time.Second)
	b.shot("hostile-asset")

	// Events and Problems.
	nav("#/events")
	b.waitJS("events listed", `document.querySelectorAll('.events tbody tr[data-type="location.added"]').length >= 3`, 10*time.Second)
	b.waitJS("no markup from names on Events", clean, 5*time.Second)
	wantNames("Events", consoleEval[string](b, `document.querySelector('table.events').innerText`))
	// Filtered by type, Events looks further back than the last 1000
	// events: 1200 newer ones bury the two proxy.ready.
	before := len(e.feedAll())
	for i := 0; i < 600; i++ {
		e.writeFile(fmt.Sprintf("notes/n%04d.txt", i), []byte(fmt.Sprintf("note %d\n", i)))
	}
	e.waitFeed(2*time.Minute, "1200 more events", func(evs []storage.Event) bool { return len(evs) >= before+1200 })
	nav("#/events?type=proxy.ready")
	b.waitJS("old proxy.ready events found under 1200 newer ones", `document.querySelectorAll('.events tbody tr[data-type="proxy.ready"]').length === 2 && document.querySelectorAll('.events tbody tr').length === 2`, 20*time.Second)
	t.Logf("events filter: %s", consoleEval[string](b, `document.getElementById('events-info').innerText`))
	// A corrupt location (a byte flipped while the daemon was stopped, size
	// and mtime kept; found by ingestd verify) is on Problems, and its
	// "Check again" says what the check found: still corrupt.
	nav("#/problems")
	b.waitJS("problems page", `document.querySelector('table.failed tbody tr')`, 10*time.Second)
	nav("#/cards")
	b.waitJS("cards page", `document.getElementById('cards')`, 10*time.Second)
	// One event stream for the tab, across every page.
	if n := streams.Load(); n != 1 {
		t.Errorf("%d requests to /v1/events/stream for one tab over six pages, want 1", n)
	}
	master := filepath.Join(e.watch, imgName)
	e.stop()
	flipByteKeepingTimes(t, master, 5000)
	e.start()
	b.waitJS("live again after the restart", `document.getElementById('conn').innerText.includes('live')`, 30*time.Second)
	b.pageErrors() // the refused connections while the daemon was away
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, errOut, code := e.cli("verify", master)
		if strings.Contains(out, "CORRUPT") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("verify of the flipped file: exit %d\n%s\n%s", code, out, errOut)
		}
		time.Sleep(time.Second) // the restart's walk may still hold the check (409)
	}
	nav("#/problems")
	b.waitJS("problems page", `document.querySelector('table.failed tbody tr')`, 10*time.Second)
	b.waitJS("corrupt location listed with Check again", `document.querySelector('table.corrupt tr[data-id] button.recheck')`, 20*time.Second)
	b.waitJS("no markup from names on Problems", clean, 5*time.Second)
	if txt := consoleEval[string](b, `document.querySelector('table.corrupt').innerText`); !strings.Contains(txt, imgName) {
		t.Errorf("corrupt table lacks the name as text:\n%s", txt)
	}
	b.do("click Check again", chromedp.Click(chromedp.CSS(`table.corrupt tr[data-id] button.recheck`)))
	b.waitJS("Check again says it is still corrupt", `/✖ still CORRUPT/.test(document.querySelector('table.corrupt tr[data-id] .result')?.innerText || '')`, 30*time.Second)
	time.Sleep(time.Second) // the check's own location.corrupt event redraws the table
	if n := consoleEval[int](b, `document.querySelectorAll('table.corrupt tr[data-id]').length`); n != 1 {
		t.Errorf("%d rows for one corrupt location after two checks, want 1", n)
	}
	if txt := consoleEval[string](b, `document.querySelector('table.corrupt tr[data-id] .result')?.innerText || ''`); !strings.Contains(txt, "still CORRUPT") {
		t.Errorf("the check's result is gone after the table was redrawn: %q", txt)
	}
	b.shot("hostile-problems")
	nav("#/cards")
	b.waitJS("cards page", `document.getElementById('cards')`, 10*time.Second)
	nav("#/overview")
	b.waitJS("overview again", `document.querySelector('table.volumes')`, 10*time.Second)
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("the page reported errors (CSP violations included): %v", errs)
	}
	// A 375 px phone: no page is wider than the screen (wide tables
	// scroll inside their panel), long hostile names included.
	b.do("phone viewport", chromedp.EmulateViewport(375, 812, chromedp.EmulateScale(2)))
	for _, pg := range []struct{ hash, ready string }{
		{"#/overview", `document.querySelector('table.volumes')`},
		{"#/cards", `document.getElementById('cards')`},
		{"#/assets", `document.querySelectorAll('table.assets tbody tr').length > 3`},
		{"#/assets?q=onerror", `document.querySelectorAll('table.assets tbody tr').length === 1`},
		{"#/events", `document.querySelector('.events tbody tr')`},
		{"#/problems", `document.querySelector('table.failed tbody tr')`},
	} {
		nav(pg.hash)
		b.waitJS("phone: "+pg.hash, pg.ready, 10*time.Second)
		if pg.hash == "#/assets?q=onerror" {
			b.do("open the hostile asset on the phone", chromedp.Click(chromedp.CSS(`table.assets tbody tr a[href^="#/asset/"]`)))
			b.waitJS("phone: asset page", `document.querySelector('audio#player') && document.querySelector('.events tbody tr')`, 10*time.Second)
		}
		if w := consoleEval[int](b, `document.documentElement.scrollWidth`); w > 375 {
			b.shot("phone-too-wide")
			t.Errorf("%s on a 375 px phone is %d px wide", consoleEval[string](b, `location.hash`), w)
		}
	}
	b.shot("hostile-asset-phone")
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("the page reported errors on the phone: %v", errs)
	}

	// The check above sees CSP violations: an inline style is refused and
	// reported.
	consoleEval[chromedp.Void](b, `(() => { const d = document.createElement('div'); d.setAttribute('style', 'color: red'); document.body.append(d); return null; })()`)
	deadline = time.Now().Add(5 * time.Second)
	for {
		errs := strings.Join(b.pageErrors(), " ")
		if strings.Contains(errs, "Content Security Policy") || strings.Contains(errs, "Refused") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("an inline style was not reported as a CSP violation: %q", errs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
