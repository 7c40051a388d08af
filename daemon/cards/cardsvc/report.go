package cardsvc

// The offload report of a card (issue 11 item 5): one HTML page
// (self-contained: no script, no external resource, posters as data: URIs,
// print CSS) and its JSON twin, built from the catalog: the card record,
// the per-file hashes kept at offload (state "cards/files/<key>"), the
// clip records and the assets' probed media.
//
// When: the report is built on every GET from what the catalog holds now
// (so it shows proxies and probe results that landed after the offload).
// Its files are written when the card becomes safe to format, into
// <state_dir>/cards/<id>/ and next to ascmhl/ in every destination
// (ingestd-report.html, ingestd-report.json), and written again, with a
// card.report_ready event (which sync uploads to the hub), whenever a later
// change to one of the card's clip assets (probe, proxy, poster) changes
// the report: such changes are debounced per card (reportDebounce).

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/internal/safefs"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

// Report file names in a destination folder (next to ascmhl/), and in
// <state_dir>/cards/<id>/ and the hub (report.html, report.json).
const (
	ReportHTMLName = cards.ReportHTMLName
	ReportJSONName = cards.ReportJSONName
	// EvCardReportReady is appended when a card's report files were
	// (re)written: Path is the card id, Detail {"key", "label", "sha256"}.
	EvCardReportReady = "card.report_ready"
)

// Caps on what a report embeds.
const (
	reportPosterWidth     = 160
	reportPosterMaxIn     = 8 << 20  // poster.jpg read up to 8 MiB
	reportPosterMaxOut    = 64 << 10 // a thumbnail above 64 KiB is left out
	reportMaxPosters      = 500      // clips beyond get no thumbnail
	reportMaxClipWarnings = 20       // clip warnings listed, then a count
	reportDebounce        = 2 * time.Second
	reportStateRevision   = 1
)

// CardID is the id of a card in URLs: 32 lowercase hex characters derived
// from its key (the key holds a UUID, '/' and ':').
func CardID(key string) string {
	sum := blake3.Sum256([]byte("card\x00" + key))
	return hex.EncodeToString(sum[:16])
}

func filesKey(key string) string           { return "cards/files/" + key }
func cardOfKey(assetID string) string      { return "cards/cardof/" + assetID }
func reportHashKey(id string) string       { return "cards/reporthash/" + id }
func cardIDKey(id string) string           { return "cards/id/" + id }
func reportDir(stateDir, id string) string { return filepath.Join(stateDir, "cards", id) }

// ReportFile is one offloaded file with its hashes.
type ReportFile = wire.ReportFile

// ReportCamera is what is known of the camera.
type ReportCamera = wire.ReportCamera

// ReportClip is one clip of the card.
type ReportClip = wire.ReportClip

// ReportPart is one file of a clip.
type ReportPart = wire.ReportPart

// ReportDest is one destination and its verification.
type ReportDest = wire.ReportDest

// Report is GET /v1/cards/{id}/report.json: the wire document, with the
// clips' embedded thumbnails for the HTML page (not in the JSON).
type Report struct {
	wire.CardReport
	posters map[string]template.URL // clip id -> data:image/jpeg;base64,…
}

// storeFiles keeps the per-file hashes of an offload for the report.
func (s *Service) storeFiles(key string, files []cards.FileResult) error {
	out := make([]ReportFile, 0, len(files))
	for _, f := range files {
		rf := ReportFile{Path: f.Path, Size: f.Size, BLAKE3: f.BLAKE3, XXH128: f.XXH128}
		if len(f.MHL) > 0 {
			rf.MHL = map[string]string{}
			for k, v := range f.MHL {
				rf.MHL[string(k)] = v
			}
		}
		out = append(out, rf)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	if err := s.cat.PutState(cardIDKey(CardID(key)), key); err != nil {
		return fmt.Errorf("card %s: %w", key, err)
	}
	if err := s.cat.PutState(filesKey(key), out); err != nil {
		return fmt.Errorf("card %s: store file hashes: %w", key, err)
	}
	return nil
}

// BuildReport builds the report of the card with key from the catalog.
// stateDir ("" for none) is where asset posters are read from.
func BuildReport(cat *catalog.Catalog, stateDir, key string) (*Report, error) {
	rec, err := cat.Card(key)
	if err != nil {
		return nil, err
	}
	migrate(&rec)
	var files []ReportFile
	if err := cat.GetState(filesKey(key), &files); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("card %s: file hashes: %w", key, err)
	}
	var clips []ClipDoc
	for _, id := range rec.Clips {
		if c, err := cat.Clip(id); err == nil {
			clips = append(clips, c)
		}
	}
	return buildReport(rec, files, clips, func(id string) (*storage.AssetDoc, error) {
		a, err := cat.Asset(id)
		if err != nil {
			return nil, err
		}
		return &a, nil
	}, stateDir), nil
}

// buildReport assembles a report; asset returns an asset document (nil,
// err when not cataloged yet).
func buildReport(rec Record, files []ReportFile, clips []ClipDoc, asset func(id string) (*storage.AssetDoc, error), stateDir string) *Report {
	r := &Report{CardReport: wire.CardReport{Version: reportStateRevision, ID: CardID(rec.Key), Key: rec.Key, Label: rec.Label, LabelB64: storage.PathB64(rec.Label),
		UUID: rec.Identity.UUID, FSType: rec.Identity.FSType, Layout: rec.Layout, Status: rec.Status, SafeToFormat: rec.SafeToFormat,
		SafeAt: rec.SafeAt, Started: rec.Started, Finished: rec.Finished, Files: rec.Files, Bytes: rec.Bytes,
		Skipped: rec.Skipped, Manifests: rec.Manifests, FileList: files, Clips: []ReportClip{}, Destinations: []ReportDest{}, Warnings: []string{}}, posters: map[string]template.URL{}}
	if r.FileList == nil {
		r.FileList = []ReportFile{}
	}
	if d := rec.Finished.Sub(rec.Started).Seconds(); d > 0 && !rec.Started.IsZero() {
		r.Seconds = math.Round(d*1000) / 1000
		r.MBps = math.Round(float64(rec.Bytes)/d/1e4) / 100
	}
	formats := map[string]bool{}
	for _, f := range files {
		for k := range f.MHL {
			formats[k] = true
		}
	}
	r.HashFormats = []string{"blake3", "xxh128"}
	for k := range formats {
		if k != "xxh128" {
			r.HashFormats = append(r.HashFormats, k)
		}
	}
	sort.Strings(r.HashFormats[2:])
	for _, d := range rec.Destinations {
		rd := ReportDest{Volume: d.Volume, Path: d.Path, PathB64: storage.PathB64(d.Path), State: d.State,
			Verified: d.State == cards.DestVerified, BytesVerified: d.BytesVerified, Generation: d.Generation, Hashes: d.Hashes, Error: d.Error}
		r.Destinations = append(r.Destinations, rd)
		if !rd.Verified {
			r.Warnings = append(r.Warnings, fmt.Sprintf("destination %s/%s not verified (%s)%s", d.Volume, d.Path, d.State, suffix(": ", d.Error)))
		}
	}
	if !rec.SafeToFormat {
		r.Warnings = append(r.Warnings, "NOT SAFE TO FORMAT")
	}
	for _, sk := range rec.Skipped {
		r.Warnings = append(r.Warnings, "not copied: "+sk.Path+": "+sk.Reason)
	}
	for _, m := range rec.Manifests {
		if !m.OK {
			r.Warnings = append(r.Warnings, fmt.Sprintf("checksum manifest %s on the card does not match (%d of %d matched)%s", m.File, m.Matched, m.Checked, suffix(": ", m.Error)))
		}
	}
	if len(files) == 0 && rec.Files > 0 {
		if rec.Status == StateOffloaded || rec.Status == StatePartial {
			r.Warnings = append(r.Warnings, "per-file hashes not recorded for this card (offloaded by an older ingestd)")
		} else {
			r.Warnings = append(r.Warnings, "per-file hashes not recorded: the card was not offloaded ("+rec.Status+")")
		}
	}
	noID := 0
	for _, f := range files {
		if f.BLAKE3 == "" {
			noID++
		}
	}
	if noID > 0 { // contentids.go: filled in after the card pass, the report then rewritten
		r.Warnings = append(r.Warnings, fmt.Sprintf("BLAKE3 (content id) of %d of %d files not computed yet", noID, len(files)))
	}
	posters := 0
	// Clip warnings: at most reportMaxClipWarnings listed, then how many
	// more (a card of 600 stills not probed yet is one line, not 600).
	clipWarnings := 0
	clipWarn := func(w string) {
		if clipWarnings < reportMaxClipWarnings {
			r.Warnings = append(r.Warnings, w)
		}
		clipWarnings++
	}
	for _, c := range clips {
		rc := ReportClip{ID: c.ID, Name: c.Name, NameB64: storage.PathB64(c.Name), Parts: []ReportPart{}}
		for _, p := range c.Parts {
			rel := p.Path
			if rest, ok := strings.CutPrefix(p.Path, rec.Folder+"/"); ok {
				rel = rest
			}
			rc.Parts = append(rc.Parts, ReportPart{Role: p.Role, Path: rel, PathB64: storage.PathB64(rel), AssetID: p.AssetID})
		}
		if c.Meta != nil {
			rc.Camera = &ReportCamera{Make: c.Meta.Manufacturer, Model: c.Meta.Model, Serial: c.Meta.Serial}
			rc.TCIn, rc.DropFrame = c.Meta.StartTimecode, c.Meta.DropFrame
		}
		var first *storage.AssetDoc
		var dur float64
		var frames int64
		videos, probed := 0, 0
		unreadable := "" // why the media stage gave up on a video part (none: not probed yet)
		for _, p := range c.Parts {
			if p.Role != "video" {
				continue
			}
			videos++ // a part whose content id is not known yet is not probed yet
			if p.AssetID == "" {
				continue
			}
			a, err := asset(p.AssetID)
			if err == nil && a != nil && a.Media == nil && a.Proxy != nil && (a.Proxy.Status == "unsupported" || a.Proxy.Status == "failed") {
				unreadable = a.Proxy.Status
				if a.Proxy.Error != "" {
					unreadable += ": " + firstLine(a.Proxy.Error, 120)
				}
			}
			if err != nil || a == nil || a.Media == nil {
				continue
			}
			probed++ // a still is probed with no duration
			if first == nil {
				first = a
			}
			dur += max(a.Media.Duration, 0)
			if v := videoStream(a.Media); v != nil && v.Frames > 0 && frames >= 0 {
				frames += v.Frames
			} else {
				frames = -1 // not counted for every part: from the duration
			}
		}
		if probed < videos {
			// Duration and TC out only once every video part is probed.
			dur, frames = 0, 0
			switch {
			case first != nil && unreadable != "":
				clipWarn(fmt.Sprintf("clip %s: %d of %d video files not readable by FFmpeg here (%s): duration, TC out unknown", c.Name, videos-probed, videos, unreadable))
			case first != nil:
				clipWarn(fmt.Sprintf("clip %s: %d of %d video files not probed yet (duration, TC out unknown)", c.Name, videos-probed, videos))
			}
		}
		if first != nil {
			m := first.Media
			rc.Duration = math.Round(dur*1000) / 1000
			if v := videoStream(m); v != nil {
				rc.FrameRate, rc.Codec, rc.Width, rc.Height = v.FrameRate, v.Codec, v.Width, v.Height
				rc.FPS = parseRate(v.FrameRate)
			}
			if rc.TCIn == "" {
				rc.TCIn, rc.DropFrame = m.Timecode, m.DropFrame
			}
			if rc.Camera == nil && (m.Make != "" || m.Model != "") {
				rc.Camera = &ReportCamera{Make: m.Make, Model: m.Model}
			}
			if first.Proxy != nil {
				rc.Proxy = first.Proxy.Status
			}
			if stateDir != "" && posters < reportMaxPosters {
				// A video's poster; a still's proxy is its picture.
				for _, name := range []string{"poster.jpg", "proxy.jpg"} {
					if uri, err := posterThumb(storage.OutputPath(stateDir, first.ID, name)); err == nil {
						r.posters[rc.ID], rc.Poster = uri, true
						posters++
						break
					}
				}
			}
		} else if unreadable != "" {
			// A format FFmpeg cannot read (BRAW, camera raw stills): "yet"
			// would never come true.
			clipWarn("clip " + c.Name + ": not readable by FFmpeg here (" + unreadable + "): duration, frame rate unknown")
		} else {
			clipWarn("clip " + c.Name + ": no probed media yet (duration, frame rate unknown)")
		}
		if frames <= 0 && rc.FPS > 0 && rc.Duration > 0 && probed == videos {
			frames = int64(math.Round(rc.Duration * rc.FPS))
		}
		rc.Frames = max(frames, 0)
		if rc.TCIn != "" && rc.FPS > 0 && !tcFits(rc.TCIn, rc.FPS, rc.DropFrame) {
			// The camera's sidecar and the file disagree (a 30 fps
			// drop-frame TC on a 25p clip): the file's own timecode when it
			// fits, else no TC out, and the report says so.
			bad := rc.TCIn
			if first != nil && first.Media.Timecode != "" && tcFits(first.Media.Timecode, rc.FPS, first.Media.DropFrame) {
				rc.TCIn, rc.DropFrame = first.Media.Timecode, first.Media.DropFrame
				clipWarn(fmt.Sprintf("clip %s: camera metadata timecode %s does not fit the clip's %s fps; the file's own timecode %s is shown", c.Name, bad, fpsText(rc.FPS), rc.TCIn))
			} else {
				frames = 0
				clipWarn(fmt.Sprintf("clip %s: timecode %s does not fit the clip's %s fps: TC out not computed", c.Name, bad, fpsText(rc.FPS)))
			}
		}
		if rc.TCIn != "" && rc.FPS > 0 && frames > 0 {
			rc.TCOut = addTimecode(rc.TCIn, frames, rc.FPS, rc.DropFrame)
		}
		if c.Incomplete {
			clipWarn("clip " + c.Name + ": spans missing (shot continues on a card not offloaded)")
		}
		if r.Camera == (ReportCamera{}) && rc.Camera != nil {
			r.Camera = *rc.Camera
		}
		r.Clips = append(r.Clips, rc)
	}
	if n := clipWarnings - reportMaxClipWarnings; n > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("and %d more clip warnings (see each clip)", n))
	}
	return r
}

func suffix(sep, s string) string {
	if s == "" {
		return ""
	}
	return sep + s
}

func videoStream(m *storage.Media) *storage.Stream {
	for i := range m.Streams {
		if m.Streams[i].Type == "video" && !m.Streams[i].AttachedPic {
			return &m.Streams[i]
		}
	}
	return nil
}

func parseRate(s string) float64 {
	n, d, ok := strings.Cut(s, "/")
	a, err := strconv.ParseFloat(n, 64)
	if err != nil {
		return 0
	}
	if !ok {
		return a
	}
	b, err := strconv.ParseFloat(d, 64)
	if err != nil || b == 0 {
		return 0
	}
	return a / b
}

// addTimecode returns tc + frames at fps (nominal rate: fps rounded;
// drop-frame counting for 29.97 and 59.94 when df). "" when tc is not
// HH:MM:SS:FF.
// tcFits says whether tc is a timecode of a clip at fps: hours, minutes,
// seconds and frames in range, and drop-frame only at 29.97 or 59.94.
func tcFits(tc string, fps float64, df bool) bool {
	nom := int64(math.Round(fps))
	f := strings.FieldsFunc(tc, func(r rune) bool { return r == ':' || r == ';' || r == '.' })
	if nom <= 0 || len(f) != 4 {
		return false
	}
	for i, lim := range []int64{24, 60, 60, nom} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil || n < 0 || n >= lim {
			return false
		}
	}
	return !df || (nom%30 == 0 && math.Abs(fps-float64(nom)*1000/1001) < 0.01)
}

// fpsText is a frame rate as people write it (25, 29.97).
func fpsText(fps float64) string { return strconv.FormatFloat(math.Round(fps*100)/100, 'f', -1, 64) }

func addTimecode(tc string, frames int64, fps float64, df bool) string {
	nom := int64(math.Round(fps))
	if nom <= 0 {
		return ""
	}
	f := strings.FieldsFunc(tc, func(r rune) bool { return r == ':' || r == ';' || r == '.' })
	if len(f) != 4 {
		return ""
	}
	var v [4]int64
	for i, x := range f {
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil || n < 0 {
			return ""
		}
		v[i] = n
	}
	drop := int64(0)
	if df && nom%30 == 0 {
		drop = nom / 15 // 2 at 30, 4 at 60
	} else {
		df = false
	}
	// Timecode → frame number.
	totalMin := v[0]*60 + v[1]
	n := (totalMin*60+v[2])*nom + v[3]
	if df {
		n -= drop * (totalMin - totalMin/10)
	}
	n += frames
	day := 24 * 3600 * nom
	if df {
		day -= drop * (24*60 - 24*6)
	}
	n = ((n % day) + day) % day
	// Frame number → timecode.
	if df {
		per10 := 10*60*nom - 9*drop
		per1 := 60*nom - drop
		d, m := n/per10, n%per10
		if m > drop {
			n += 9*drop*d + drop*((m-drop)/per1)
		} else {
			n += 9 * drop * d
		}
	}
	ff, s := n%nom, n/nom
	sep := ":"
	if df {
		sep = ";"
	}
	return fmt.Sprintf("%02d:%02d:%02d%s%02d", s/3600, s/60%60, s%60, sep, ff)
}

// posterThumb reads a poster (regular file, at most reportPosterMaxIn)
// and returns a reportPosterWidth-wide JPEG as a data: URI.
func posterThumb(p string) (template.URL, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() || st.Size() > reportPosterMaxIn {
		return "", fmt.Errorf("poster %s: not a regular file or too large", p)
	}
	cfg, err := jpeg.DecodeConfig(io.LimitReader(f, reportPosterMaxIn))
	if err != nil {
		return "", fmt.Errorf("poster %s: %w", p, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > 40e6 {
		return "", fmt.Errorf("poster %s: %dx%d", p, cfg.Width, cfg.Height)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	img, err := jpeg.Decode(io.LimitReader(f, reportPosterMaxIn))
	if err != nil {
		return "", fmt.Errorf("poster %s: %w", p, err)
	}
	th := scaleDown(img, reportPosterWidth)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, th, &jpeg.Options{Quality: 70}); err != nil {
		return "", err
	}
	if buf.Len() > reportPosterMaxOut {
		return "", fmt.Errorf("poster %s: thumbnail too large", p)
	}
	return template.URL("data:image/jpeg;base64," + b64(buf.Bytes())), nil
}

// scaleDown box-filters img to width w (keeps the aspect; never enlarges).
func scaleDown(img image.Image, w int) image.Image {
	b := img.Bounds()
	if b.Dx() <= w {
		return img
	}
	h := max(1, b.Dy()*w/b.Dx())
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		y0, y1 := b.Min.Y+y*b.Dy()/h, b.Min.Y+(y+1)*b.Dy()/h
		for x := 0; x < w; x++ {
			x0, x1 := b.Min.X+x*b.Dx()/w, b.Min.X+(x+1)*b.Dx()/w
			var r, g, bl, n uint64
			for yy := y0; yy < max(y1, y0+1); yy++ {
				for xx := x0; xx < max(x1, x0+1); xx++ {
					cr, cg, cb, _ := img.At(xx, yy).RGBA()
					r, g, bl, n = r+uint64(cr), g+uint64(cg), bl+uint64(cb), n+1
				}
			}
			i := out.PixOffset(x, y)
			out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = uint8(r/n>>8), uint8(g/n>>8), uint8(bl/n>>8), 255
		}
	}
	return out
}

// JSON renders the report's JSON twin.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// show makes a name from a card displayable: invalid UTF-8 bytes as \xNN.
func show(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
			i++
			continue
		}
		b.WriteString(s[i : i+n])
		i += n
	}
	return b.String()
}

func mb(n int64) string { return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) }

func hms(sec float64) string {
	if sec <= 0 {
		return "–"
	}
	t := int64(math.Round(sec))
	return fmt.Sprintf("%d:%02d:%02d", t/3600, t/60%60, t%60)
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"show": show, "mb": mb, "hms": hms,
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"fps": func(f float64) string {
		if f == 0 {
			return "–"
		}
		return strconv.FormatFloat(f, 'f', -1, 64)
	},
	"dflt": func(s, d string) string {
		if s == "" {
			return d
		}
		return s
	},
	"mhl": func(m map[string]string) string {
		ks := make([]string, 0, len(m))
		for k := range m {
			if k != "xxh128" {
				ks = append(ks, k)
			}
		}
		sort.Strings(ks)
		var parts []string
		for _, k := range ks {
			parts = append(parts, k+" "+m[k])
		}
		return strings.Join(parts, " ")
	},
}).Parse(reportHTML))

// reportCSS is the page's only style; the HTTP answer's CSP allows exactly
// this <style> block by its hash (reportCSP).
const reportCSS = `body{font:13px/1.4 system-ui,sans-serif;margin:24px;color:#111}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:20px 0 6px;border-bottom:1px solid #999}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eee}td.h{font:11px ui-monospace,monospace;word-break:break-all}.ok{color:#070;font-weight:bold}.bad{color:#b00;font-weight:bold}
.warn{background:#fff3cd;border:1px solid #d9b300;padding:6px 10px;margin:8px 0}img{display:block;width:160px}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:0}dt{font-weight:bold}dd{margin:0}
@media print{body{margin:0;font-size:10px}h2{break-after:avoid}tr{break-inside:avoid}.warn{border:1px solid #000}}`

const reportHTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Offload report {{show .R.Label}}</title>
<meta name="viewport" content="width=device-width">
<style>{{.CSS}}</style></head><body>
{{with .R}}<h1>Card {{show .Label}} — offload report</h1>
<p>{{if .SafeToFormat}}<span class="ok">SAFE TO FORMAT</span>{{else}}<span class="bad">NOT SAFE TO FORMAT</span>{{end}}</p>
<dl>
<dt>Label</dt><dd>{{show .Label}}</dd>
<dt>UUID</dt><dd>{{dflt .UUID "–"}}</dd>
<dt>Card key</dt><dd>{{.Key}}</dd>
<dt>Layout</dt><dd>{{.Layout}}{{if .FSType}} ({{.FSType}}){{end}}</dd>
<dt>Camera</dt><dd>{{dflt .Camera.Make "–"}} {{.Camera.Model}}</dd>
<dt>Serial</dt><dd>{{dflt .Camera.Serial "–"}}</dd>
<dt>Start</dt><dd>{{ts .Started}}</dd>
<dt>End</dt><dd>{{ts .Finished}}</dd>
<dt>Files</dt><dd>{{.Files}} ({{mb .Bytes}} MB)</dd>
<dt>Speed</dt><dd>{{.MBps}} MB/s over {{.Seconds}} s</dd>
<dt>Hashes</dt><dd>{{range $i, $f := .HashFormats}}{{if $i}}, {{end}}{{$f}}{{end}}</dd>
{{with .SafeAt}}<dt>Safe since</dt><dd>{{ts .}}</dd>{{end}}
</dl>
{{if .Warnings}}<h2>Warnings</h2>{{range .Warnings}}<div class="warn">{{show .}}</div>{{end}}{{end}}
<h2>Destinations</h2>
<table><tr><th>Volume</th><th>Folder</th><th>Verification</th><th>Bytes verified</th><th>ASC MHL generation</th><th>Hashes</th></tr>
{{range .Destinations}}<tr><td>{{show .Volume}}</td><td>{{show .Path}}</td><td>{{if .Verified}}<span class="ok">verified</span>{{else}}<span class="bad">{{.State}}</span> {{show .Error}}{{end}}</td><td>{{mb .BytesVerified}} MB</td><td>{{show .Generation}}</td><td>{{range $i, $h := .Hashes}}{{if $i}}, {{end}}{{$h}}{{end}}</td></tr>
{{end}}</table>
<h2>Clips ({{len .Clips}})</h2>
<table><tr><th>Poster</th><th>Clip</th><th>Duration</th><th>TC in</th><th>TC out</th><th>Frame rate</th><th>Video</th><th>Files</th></tr>
{{range .Clips}}<tr><td>{{if .Poster}}<img alt="" src="{{$.R.Poster .ID}}">{{else}}–{{end}}</td><td>{{show .Name}}{{with .Camera}}<br>{{.Make}} {{.Model}}{{with .Serial}} #{{.}}{{end}}{{end}}</td>
<td>{{hms .Duration}} ({{.Frames}} fr)</td><td>{{dflt .TCIn "–"}}</td><td>{{dflt .TCOut "–"}}</td><td>{{fps .FPS}}{{with .FrameRate}} ({{.}}){{end}}</td>
<td>{{.Codec}}{{if .Width}} {{.Width}}×{{.Height}}{{end}}</td><td>{{range .Parts}}{{.Role}}: {{show .Path}}<br>{{end}}</td></tr>
{{end}}</table>
<h2>Files ({{len .FileList}})</h2>
<table><tr><th>File</th><th>Size</th><th>xxh128</th><th>BLAKE3</th><th>Other</th></tr>
{{range .FileList}}<tr><td>{{show .Path}}</td><td>{{.Size}}</td><td class="h">{{.XXH128}}</td><td class="h">{{.BLAKE3}}</td><td class="h">{{mhl .MHL}}</td></tr>
{{end}}</table>
<p>Generated by ingestd from the catalog. Card {{.ID}}.</p>{{end}}
</body></html>
`

// Poster is the embedded thumbnail (data: URI) of clip id for the template.
func (r *Report) Poster(id string) template.URL { return r.posters[id] }

// HTML renders the report page.
func (r *Report) HTML() ([]byte, error) {
	var buf bytes.Buffer
	err := reportTmpl.Execute(&buf, struct {
		R   *Report
		CSS template.CSS
	}{r, template.CSS(reportCSS)})
	if err != nil {
		return nil, fmt.Errorf("render report of card %s: %w", r.Key, err)
	}
	return buf.Bytes(), nil
}

// reportCSP is the Content-Security-Policy of the HTML answer: nothing
// loads, images only from data:, the one <style> block by its hash.
var reportCSP = func() string {
	sum := sha256.Sum256([]byte(reportCSS))
	return "default-src 'none'; img-src data:; style-src 'sha256-" + b64(sum[:]) + "'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}()

// SetVersion sets the tool version recorded in each ASC MHL generation
// (call before Run).
func (s *Service) SetVersion(v string) { s.version = v }

// SetReports enables writing report files into <stateDir>/cards/<id>/ and
// the destinations (call before Run).
func (s *Service) SetReports(stateDir string) { s.reportState = stateDir }

// writeReport builds the card's report and, when it differs from the one
// last written (or force), writes it to the state dir and next to ascmhl/
// in every verified destination and appends card.report_ready.
func (s *Service) writeReport(key string, force bool) {
	if s.reportState == "" {
		return
	}
	log := s.log.With("card", key)
	r, err := BuildReport(s.cat, s.reportState, key)
	if err != nil {
		log.Warn("build offload report", "err", err)
		return
	}
	if !r.SafeToFormat {
		return // written once the card is safe
	}
	js, err := r.JSON()
	if err != nil {
		log.Warn("offload report json", "err", err)
		return
	}
	page, err := r.HTML()
	if err != nil {
		log.Warn("offload report html", "err", err)
		return
	}
	sum := sha256.Sum256(append(append([]byte{}, js...), page...))
	hash := hex.EncodeToString(sum[:])
	var last string
	_ = s.cat.GetState(reportHashKey(r.ID), &last)
	if last == hash && !force {
		return
	}
	// Which clip assets trigger a rewrite when their media changes.
	for _, c := range r.Clips {
		for _, p := range c.Parts {
			if p.AssetID != "" && p.Role != "sidecar" {
				_ = s.cat.PutState(cardOfKey(p.AssetID), key)
			}
		}
	}
	dir := reportDir(s.reportState, r.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Warn("offload report", "err", err)
		return
	}
	sd, err := safefs.OpenRoot(dir, true)
	if err != nil {
		log.Warn("offload report", "err", err)
		return
	}
	werr := sd.WriteFileAtomic("report.html", page, 0o644)
	if werr == nil {
		werr = sd.WriteFileAtomic("report.json", js, 0o644)
	}
	sd.Close()
	if werr != nil {
		log.Warn("offload report", "err", werr)
		return
	}
	if rec, err := s.cat.Card(key); err == nil {
		var files []ReportFile
		_ = s.cat.GetState(filesKey(key), &files)
		onCard := map[string]bool{}
		for _, f := range files {
			onCard[strings.ToLower(f.Path)] = true
		}
		s.writeDestReports(rec.Destinations, onCard, page, js, log)
	}
	if err := s.cat.PutState(reportHashKey(r.ID), hash); err != nil {
		log.Warn("offload report", "err", err)
	}
	detail, _ := json.Marshal(map[string]any{"key": key, "label": r.Label, "sha256": hash, "clips": len(r.Clips)})
	if _, err := s.cat.AppendEvent(storage.Event{Type: EvCardReportReady, Path: r.ID, Volume: r.volume(), Detail: string(detail)}); err != nil {
		log.Warn("record card.report_ready", "err", err)
	}
	log.Info("offload report written", "id", r.ID, "clips", len(r.Clips), "files", len(r.FileList))
}

func (r *Report) volume() string {
	for _, d := range r.Destinations {
		if d.Verified {
			return d.Volume
		}
	}
	return ""
}

// writeDestReport writes the report files into the destination folder d
// through safefs (no symlink followed, nothing outside the volume). A card
// file of the same name (the card's own copy) is never overwritten.
// writeDestReports writes the report next to ascmhl/ in every verified
// destination, all at once. A volume that stops answering holds neither
// the card's status nor the service: a write not done within the
// destination check timeout is left to finish whenever the mount answers
// (one write per folder at a time: flight), and the report is written
// there again with the card's next report.
func (s *Service) writeDestReports(dests []DestState, onCard map[string]bool, page, js []byte, log *slog.Logger) {
	timeout := s.destTimeout
	if timeout <= 0 {
		timeout = DestCheckTimeout
	}
	deadline := time.Now().Add(timeout)
	var wg sync.WaitGroup
	for _, d := range dests {
		if d.State != cards.DestVerified {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err, answered := s.reportWrites.do(d.Volume+"\x00"+d.Path, deadline, func() error {
				return s.writeDestReport(d, onCard, page, js)
			})
			switch {
			case !answered:
				log.Warn("offload report not written to destination: "+notResponding+"left behind", "volume", d.Volume, "path", d.Path, "timeout", timeout)
			case err != nil:
				log.Warn("write offload report to destination", "volume", d.Volume, "path", d.Path, "err", err)
			}
		}()
	}
	wg.Wait()
}

func (s *Service) writeDestReport(d DestState, onCard map[string]bool, page, js []byte) error {
	root, ok := s.vols[d.Volume]
	if !ok {
		return fmt.Errorf("volume %s not configured", d.Volume)
	}
	vol, err := safefs.OpenRoot(root, true)
	if err != nil {
		return err
	}
	defer vol.Close()
	dir, err := vol.OpenDir(d.Path)
	if err != nil {
		return fmt.Errorf("open %s: %w", filepath.Join(root, filepath.FromSlash(d.Path)), err)
	}
	defer dir.Close()
	for _, f := range []struct {
		name string
		data []byte
	}{{ReportHTMLName, page}, {ReportJSONName, js}} {
		if onCard[strings.ToLower(f.name)] {
			return fmt.Errorf("%s: the card has a file of that name; report not written there", path.Join(d.Path, f.name))
		}
		// Through a temp name the catalog and the ASC MHL ignore: a verify
		// or a crash meanwhile never sees a file that is not footage.
		if err := dir.WriteFileAtomicVia(f.name, cards.PartialSuffix, f.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// reportTrigger schedules a rewrite of the report of the card holding
// asset id (debounced), when it has one.
func (s *Service) reportTrigger(assetID string) {
	if s.reportState == "" || assetID == "" {
		return
	}
	var key string
	if err := s.cat.GetState(cardOfKey(assetID), &key); err != nil || key == "" {
		return
	}
	s.scheduleReport(key)
}

// reportTriggerClip schedules a rewrite of the report of clip id's cards
// (its whole-clip proxy landed).
func (s *Service) reportTriggerClip(id string) {
	if s.reportState == "" || !ValidClipID(id) {
		return
	}
	c, err := s.cat.Clip(id)
	if err != nil {
		return
	}
	for _, cc := range c.Cards {
		s.scheduleReport(cc.Key)
	}
}

func (s *Service) scheduleReport(key string) {
	s.reportMu.Lock()
	defer s.reportMu.Unlock()
	if s.reportStopped {
		return
	}
	if s.reportTimers == nil {
		s.reportTimers = map[string]*time.Timer{}
	}
	if t, ok := s.reportTimers[key]; ok {
		t.Reset(reportDebounce)
		return
	}
	s.reportTimers[key] = time.AfterFunc(reportDebounce, func() {
		s.reportMu.Lock()
		delete(s.reportTimers, key)
		if s.reportStopped {
			s.reportMu.Unlock()
			return
		}
		s.reportWG.Add(1)
		s.reportMu.Unlock()
		defer s.reportWG.Done()
		s.writeReport(key, false)
	})
}

// stopReports stops pending report rewrites and waits for a running one
// (on shutdown).
func (s *Service) stopReports() {
	s.reportMu.Lock()
	s.reportStopped = true
	for k, t := range s.reportTimers {
		t.Stop()
		delete(s.reportTimers, k)
	}
	s.reportMu.Unlock()
	s.reportWG.Wait() // a rewrite already running finishes before the catalog closes
}

// ReportHandler serves GET /v1/cards/{id}/report (HTML) and
// /v1/cards/{id}/report.json, built from the catalog now.
func ReportHandler(cat *catalog.Catalog, stateDir string, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	serve := func(asJSON bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			id := r.PathValue("id")
			if !ValidClipID(id) {
				api.WriteError(w, http.StatusBadRequest, "id must be a card id (32 lowercase hex characters)", "id")
				return
			}
			var key string
			err := cat.GetState(cardIDKey(id), &key)
			if errors.Is(err, storage.ErrNotFound) {
				// A card offloaded before reports existed has no id index.
				err = cat.Cards(func(rec storage.Card) error {
					if CardID(rec.Key) == id {
						key = rec.Key
						return errStopList
					}
					return nil
				})
				if errors.Is(err, errStopList) {
					err = nil
				} else if err == nil {
					err = storage.ErrNotFound
				}
			}
			if errors.Is(err, storage.ErrNotFound) {
				api.WriteError(w, http.StatusNotFound, "no card "+id, "id")
				return
			}
			if err != nil {
				api.WriteError(w, http.StatusInternalServerError, err.Error(), "")
				return
			}
			rep, err := BuildReport(cat, stateDir, key)
			if errors.Is(err, storage.ErrNotFound) {
				api.WriteError(w, http.StatusNotFound, "no card "+id, "id")
				return
			}
			var body []byte
			if err == nil {
				if asJSON {
					body, err = rep.JSON()
				} else {
					body, err = rep.HTML()
				}
			}
			if err != nil {
				log.Warn("offload report", "card", id, "err", err)
				api.WriteError(w, http.StatusInternalServerError, err.Error(), "")
				return
			}
			sum := sha256.Sum256(body)
			etag := `"` + hex.EncodeToString(sum[:16]) + `"`
			h := w.Header()
			h.Set("ETag", etag)
			h.Set("Cache-Control", "no-cache")
			h.Set("X-Content-Type-Options", "nosniff")
			if asJSON {
				h.Set("Content-Type", "application/json")
			} else {
				h.Set("Content-Type", "text/html; charset=utf-8")
				h.Set("Content-Security-Policy", reportCSP)
				h.Set("Referrer-Policy", "no-referrer")
			}
			if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			h.Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusOK)
			if r.Method != http.MethodHead {
				w.Write(body)
			}
		}
	}
	mux.HandleFunc("GET /v1/cards/{id}/report", serve(false))
	mux.HandleFunc("GET /v1/cards/{id}/report.json", serve(true))
	return mux
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// firstLine is s up to its first line break, at most n bytes (cut on a
// rune boundary).
func firstLine(s string, n int) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}
