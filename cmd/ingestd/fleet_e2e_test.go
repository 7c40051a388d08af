package main_test

// A fleet (issue 15 item 6): three real appliances (separate processes,
// state dirs, watch folders, appliance ids) push to one MinIO bucket under
// one prefix while a seeded-random schedule kill -9's and restarts them, and
// the reference hub consumer (cmd/hubfeed, package sync/hubfeed, a separate
// process with persisted cursors, itself killed with -9) follows all three
// feeds. At the end the consumer holds every event of every appliance
// exactly once after dedupe, and the bucket every asset's objects under its
// own appliance's prefix only. Last, one appliance's catalog is re-created
// (reset-catalog) while the consumer follows: the reset is reported and the
// new feed delivered under the new catalog_id. docs/scale.md reports what
// this proved.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/miniotest"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/sync/hubfeed"
)

var (
	fleetHubOnce sync.Once
	fleetHubBin  string
	fleetHubErr  error
)

// fleetBuildHub builds cmd/hubfeed once (with -race under -race).
func fleetBuildHub(t *testing.T) string {
	t.Helper()
	fleetHubOnce.Do(func() {
		fleetHubBin = filepath.Join(filepath.Dir(binPath), "hubfeed")
		args := []string{"build", "-o", fleetHubBin}
		if raceBuild {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, "github.com/ingestd/ingestd/cmd/hubfeed")...).CombinedOutput()
		if err != nil {
			fleetHubErr = fmt.Errorf("build cmd/hubfeed: %v\n%s", err, out)
		}
	})
	if fleetHubErr != nil {
		t.Fatal(fleetHubErr)
	}
	return fleetHubBin
}

// fleetHub is the consumer process: stdout appends to out (JSON lines),
// cursors live in state, stderr of every run accumulates in log.
type fleetHub struct {
	t      *testing.T
	args   []string
	state  string
	out    string
	log    *syncBuffer
	proc   *exec.Cmd
	exited chan struct{}
	runs   int
}

func (h *fleetHub) start() {
	h.t.Helper()
	f, err := os.OpenFile(h.out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	h.proc = exec.Command(fleetBuildHub(h.t), append([]string{"-state", h.state, "-gaps"}, h.args...)...)
	h.proc.Stdout, h.proc.Stderr = f, h.log
	if err := h.proc.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.runs++
	h.exited = make(chan struct{})
	go func(p *exec.Cmd, done chan struct{}) { p.Wait(); close(done) }(h.proc, h.exited)
	h.t.Cleanup(func() {
		select {
		case <-h.exited:
		default:
			h.proc.Process.Kill()
			<-h.exited
		}
	})
}

func (h *fleetHub) kill9() {
	h.proc.Process.Signal(syscall.SIGKILL)
	<-h.exited
}

func (h *fleetHub) stop() {
	h.t.Helper()
	h.proc.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.exited:
	case <-time.After(20 * time.Second):
		h.t.Fatalf("hubfeed did not stop on SIGTERM:\n%s", h.log.String())
	}
	if c := h.proc.ProcessState.ExitCode(); c != 0 {
		h.t.Fatalf("hubfeed exit status %d:\n%s", c, h.log.String())
	}
}

// fleetLine is one line of the consumer's output.
type fleetLine struct {
	Source      string        `json:"source"`
	ApplianceID string        `json:"appliance_id"`
	CatalogID   string        `json:"catalog_id"`
	Event       storage.Event `json:"event"`
}

// lines reads every line written so far; a torn or foreign line fails.
func (h *fleetHub) lines() []fleetLine {
	h.t.Helper()
	b, err := os.ReadFile(h.out)
	if err != nil && !os.IsNotExist(err) {
		h.t.Fatal(err)
	}
	var out []fleetLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l fleetLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.ApplianceID == "" || l.Event.Seq == 0 {
			h.t.Fatalf("consumer output line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

// fleetBlockCursor puts a directory where the cursor file is, so that
// the consumer's rename onto it fails, and returns the cursor written last.
func fleetBlockCursor(t *testing.T, file string) []byte {
	t.Helper()
	for range 100 {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(file); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(file, 0o755); err == nil {
			return b
		}
		// The consumer wrote a new cursor in between: take that one.
	}
	t.Fatalf("could not block %s", file)
	return nil
}

// fleetWaitUntil polls cond every 50 ms until it holds or timeout passes.
func fleetWaitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fleetRun is one run of the consumer: its first output line, and the
// cursors (per appliance id) it found.
type fleetRun struct {
	first   int
	cursors map[string]uint64
}

// fleetSeed is INGESTD_FLEET_SEED, or a fixed seed so CI replays one
// schedule; the log names it.
func fleetSeed(t *testing.T) uint64 {
	if s := os.Getenv("INGESTD_FLEET_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("INGESTD_FLEET_SEED=%q: %v", s, err)
		}
		return n
	}
	return 15
}

func TestFleet(t *testing.T) {
	const (
		boxes  = 3
		rounds = 4
		bucket = "fleet"
		prefix = "site"
	)
	testenv.Need(t, "ffmpeg")
	seed := fleetSeed(t)
	rng := rand.New(rand.NewPCG(seed, 6))
	t.Logf("schedule seed %d (INGESTD_FLEET_SEED replays it)", seed)
	t0 := time.Now()

	m := miniotest.Start(t)
	m.CreateBucket(t, bucket)
	fleetBuildHub(t)

	// Distinct media per box and round (the sine's pitch differs), so no
	// two boxes hold the same content and any object under a box's prefix
	// that belongs to another box's asset is a crossing.
	src := t.TempDir()
	clips := map[[2]int]string{}
	for b := range boxes {
		for r := range rounds {
			clips[[2]int{b, r}] = makeClip(t, src, fmt.Sprintf("box%d_r%d.mov", b, r), 1, 300+100*b+17*r, false)
		}
	}

	apps := make([]*env, boxes)
	ids := make([]string, boxes)
	var srcArgs []string
	for b := range apps {
		ids[b] = fmt.Sprintf("site-box%d", b+1)
		e := newEnv(t, fmt.Sprintf("tok-%d", b+1), "appliance_id: "+ids[b]+"\nproxy:\n  gpu: off\n  filmstrip_tiles: 2\n"+
			"hub:\n  s3:\n    endpoint: "+m.Endpoint+"\n    bucket: "+bucket+"\n    prefix: "+prefix+
			"\n    path_style: true\n    retry_min: 100ms\n    retry_max: 1s\n")
		e.extraEnv = miniotest.Env()
		e.start()
		apps[b] = e
		srcArgs = append(srcArgs, "-source", fmt.Sprintf("box%d=http://%s,%s", b+1, e.addr, filepath.Join(e.dir, "token")))
	}
	hubDir := t.TempDir()
	hub := &fleetHub{t: t, args: srcArgs, state: filepath.Join(hubDir, "cursors"), out: filepath.Join(hubDir, "events.jsonl"), log: &syncBuffer{}}
	if err := os.Mkdir(hub.state, 0o755); err != nil {
		t.Fatal(err)
	}
	hub.start()

	// Rounds (counted from 0): every box gets a clip and a text file, then
	// one or two boxes are killed with -9 at a random moment and restarted
	// after a random pause; the consumer is killed with -9 in rounds 1 and
	// 3. In round 3 box1's cursor cannot be written (a directory stands in
	// its place, the fault injected): the consumer delivers box1's events,
	// fails to persist the cursor and retries, is killed, and its next run
	// must deliver those events again from the last cursor that was
	// written (at least once).
	dropped := make([][]string, boxes)
	kills := 0
	hubRuns := []fleetRun{{cursors: map[string]uint64{}}} // where each consumer run started
	curFile := filepath.Join(hub.state, "box1.cursor.json")
	var savedCursor []byte
	for r := range rounds {
		if r == rounds-1 {
			savedCursor = fleetBlockCursor(t, curFile)
		}
		for b, e := range apps {
			clip := fmt.Sprintf("r%d/%s_C%03d.mov", r, strings.ToUpper(ids[b][5:]), r)
			e.dropFile(clips[[2]int{b, r}], clip)
			notes := fmt.Sprintf("r%d/notes.txt", r)
			e.writeFile(notes, []byte(fmt.Sprintf("%s round %d\n", ids[b], r)))
			dropped[b] = append(dropped[b], clip, notes)
		}
		for range 1 + rng.IntN(2) {
			time.Sleep(time.Duration(rng.IntN(1200)) * time.Millisecond)
			v := rng.IntN(boxes)
			apps[v].kill9()
			kills++
			time.Sleep(time.Duration(100+rng.IntN(500)) * time.Millisecond)
			apps[v].start()
		}
		if r == 1 || r == rounds-1 {
			time.Sleep(time.Duration(rng.IntN(800)) * time.Millisecond)
			if r == rounds-1 {
				fleetWaitUntil(t, 30*time.Second, "the consumer failing to write box1's cursor after delivering", func() bool {
					return regexp.MustCompile(`write cursor \S*box1\.cursor\.json`).MatchString(hub.log.String())
				})
			}
			hub.kill9()
			if r == rounds-1 {
				if err := os.Remove(curFile); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(curFile, savedCursor, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			hubRuns = append(hubRuns, fleetRun{first: len(hub.lines()), cursors: map[string]uint64{}})
			for b := range apps {
				cur, err := hubfeed.LoadCursor(hub.state, fmt.Sprintf("box%d", b+1))
				if err != nil {
					t.Fatal(err)
				}
				hubRuns[len(hubRuns)-1].cursors[ids[b]] = cur.After
			}
			hub.start()
		}
	}
	tDropped := time.Since(t0)

	// Converge: every dropped file cataloged, every asset's last event is
	// asset.synced (asset.json rewritten after its last change), every
	// clip's proxy ready, and the consumer has caught up with every feed.
	feeds := make([][]storage.Event, boxes)
	deadline := time.Now().Add(mediaTimeout)
	for {
		done := true
		lines := hub.lines()
		got := map[string]bool{}
		for _, l := range lines {
			got[fmt.Sprintf("%s/%d", l.ApplianceID, l.Event.Seq)] = true
		}
		for b, e := range apps {
			feeds[b] = e.feedAll()
			if !fleetSettled(feeds[b], dropped[b]) {
				done = false
			}
			for _, ev := range feeds[b] {
				if !got[fmt.Sprintf("%s/%d", ids[b], ev.Seq)] {
					done = false
				}
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			for b := range apps {
				t.Logf("%s feed:\n%s", ids[b], dumpEvents(feeds[b]))
			}
			t.Fatalf("fleet did not converge within %v; consumer log:\n%s", mediaTimeout, hub.log.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
	tSettled := time.Since(t0)
	// A quiet period: nothing more may arrive, and nothing may be missing.
	time.Sleep(1500 * time.Millisecond)
	hub.stop()
	lines := hub.lines()

	// 1. Every event of every appliance exactly once after dedupe, with the
	// feed's content, under the appliance's own catalog id.
	dups := 0
	byBox := map[string]map[uint64]storage.Event{}
	for _, l := range lines {
		if byBox[l.ApplianceID] == nil {
			byBox[l.ApplianceID] = map[uint64]storage.Event{}
		}
		if prev, ok := byBox[l.ApplianceID][l.Event.Seq]; ok {
			dups++
			if !fleetSameEvent(prev, l.Event) {
				t.Errorf("%s seq %d delivered twice with different content: %+v / %+v", l.ApplianceID, l.Event.Seq, prev, l.Event)
			}
		}
		byBox[l.ApplianceID][l.Event.Seq] = l.Event
	}
	if dups == 0 {
		t.Errorf("no event delivered twice, although box1's cursor could not be written before the consumer was killed")
	}
	if len(byBox) != boxes {
		t.Errorf("consumer saw appliances %v, want %v", slices.Sorted(maps.Keys(byBox)), ids)
	}
	totalEvents, feedGaps := 0, 0
	assetsOf := make([]map[string]bool, boxes)
	for b, e := range apps {
		feed := e.feedAll()
		feeds[b] = feed
		st, err := e.client().Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		totalEvents += len(feed)
		if len(byBox[ids[b]]) != len(feed) {
			t.Errorf("%s: consumer holds %d distinct events, the feed %d", ids[b], len(byBox[ids[b]]), len(feed))
		}
		for i, ev := range feed {
			if i > 0 && ev.Seq > feed[i-1].Seq+1 {
				feedGaps++
			}
			got, ok := byBox[ids[b]][ev.Seq]
			if !ok {
				t.Errorf("%s seq %d (%s %s) lost by the consumer", ids[b], ev.Seq, ev.Type, ev.Path)
			} else if !fleetSameEvent(got, ev) {
				t.Errorf("%s seq %d: consumer has %+v, feed %+v", ids[b], ev.Seq, got, ev)
			}
		}
		for _, l := range lines {
			if l.ApplianceID == ids[b] && (l.CatalogID != st.CatalogID || l.Source != fmt.Sprintf("box%d", b+1)) {
				t.Fatalf("%s: line with catalog %q source %q, want %q box%d", ids[b], l.CatalogID, l.Source, st.CatalogID, b+1)
			}
		}
		// Every dropped file cataloged exactly once.
		added, cataloged := countPaths(feed, storage.EvLocationAdded), countPaths(feed, storage.EvAssetCataloged)
		for _, p := range dropped[b] {
			if added[p] != 1 || cataloged[p] != 1 {
				t.Errorf("%s %s: location.added %d, asset.cataloged %d; want exactly 1 each", ids[b], p, added[p], cataloged[p])
			}
		}
		// The cursor file holds the last seq under this catalog.
		cur, err := hubfeed.LoadCursor(hub.state, fmt.Sprintf("box%d", b+1))
		if err != nil {
			t.Fatal(err)
		}
		if cur.ApplianceID != ids[b] || cur.CatalogID != st.CatalogID || cur.After != feed[len(feed)-1].Seq {
			t.Errorf("%s cursor %+v, want catalog %s after %d", ids[b], cur, st.CatalogID, feed[len(feed)-1].Seq)
		}
		assetsOf[b] = map[string]bool{}
		for _, ev := range feed {
			if ev.AssetID != "" {
				assetsOf[b][ev.AssetID] = true
			}
		}
	}
	// Each consumer run resumed from the cursors its predecessor persisted
	// (killed with -9): its first event per appliance is the one right after
	// the cursor, and within a run the seqs only increase. Events a killed
	// run delivered after its last cursor write come again (at least once).
	for k, run := range hubRuns {
		end := len(lines)
		if k+1 < len(hubRuns) {
			end = hubRuns[k+1].first
		}
		last := maps.Clone(run.cursors)
		for _, l := range lines[run.first:end] {
			if c, ok := run.cursors[l.ApplianceID]; ok && last[l.ApplianceID] == c {
				feed := feeds[slices.Index(ids, l.ApplianceID)]
				i := slices.IndexFunc(feed, func(ev storage.Event) bool { return ev.Seq > c })
				if i < 0 || feed[i].Seq != l.Event.Seq {
					t.Errorf("consumer run %d: first %s event seq %d, want the first after its cursor %d", k+1, l.ApplianceID, l.Event.Seq, c)
				}
			}
			if l.Event.Seq <= last[l.ApplianceID] {
				t.Errorf("consumer run %d: %s seq %d after %d: not resumed from its cursor", k+1, l.ApplianceID, l.Event.Seq, last[l.ApplianceID])
			}
			last[l.ApplianceID] = l.Event.Seq
		}
	}

	// Gaps: the feed is contiguous across all these kills (docs/api.md),
	// 1..N per appliance, and the consumer, with gap detection on, reported
	// none. (A gap it saw would also be a gap in a feed: the consumer never
	// skips a number the appliance served.)
	for b := range apps {
		for i, ev := range feeds[b] {
			if ev.Seq != uint64(i+1) {
				t.Errorf("%s: event %d has seq %d: the feed is not contiguous", ids[b], i+1, ev.Seq)
				break
			}
		}
	}
	gapLines := regexp.MustCompile(`gap in seq".*`).FindAllString(hub.log.String(), -1)
	if len(gapLines) > 0 {
		t.Errorf("the consumer reported gaps in seq:\n%s", strings.Join(gapLines, "\n"))
	}
	if strings.Contains(hub.log.String(), "reset:") {
		t.Errorf("the consumer reported a catalog reset:\n%s", hub.log.String())
	}

	// 2. The bucket: every asset's asset.json and proxy outputs under its
	// own appliance's prefix, nothing under another's, nothing unknown.
	for b := range boxes {
		for c := b + 1; c < boxes; c++ {
			for id := range assetsOf[b] {
				if assetsOf[c][id] {
					t.Fatalf("asset %s on %s and %s: the media were meant to be distinct", id, ids[b], ids[c])
				}
			}
		}
	}
	objs := m.List(t, bucket)
	keys := map[string]bool{}
	for _, o := range objs {
		keys[o.Key] = true
		parts := strings.Split(o.Key, "/")
		b := slices.Index(ids, parts[min(1, len(parts)-1)])
		perShot := len(parts) == 6 && parts[4] == "shots" // analysis: shots/NNNNN.jpg
		if (len(parts) != 5 && !perShot) || parts[0] != prefix || b < 0 || parts[2] != "assets" {
			t.Errorf("unexpected object %s", o.Key)
			continue
		}
		if !assetsOf[b][parts[3]] {
			t.Errorf("object %s: asset %s is not %s's: crossed prefixes", o.Key, parts[3], ids[b])
		}
	}
	proxies := 0
	for b, e := range apps {
		for id := range assetsOf[b] {
			doc, err := e.client().Asset(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"asset.json"}
			if doc.Kind == "video" {
				if doc.Proxy == nil || doc.Proxy.Status != "ready" {
					t.Errorf("%s asset %s: proxy %+v, want ready", ids[b], id, doc.Proxy)
					continue
				}
				want = append(want, doc.Proxy.Outputs...)
				proxies++
			}
			for _, name := range want {
				k := path.Join(prefix, ids[b], "assets", id, name)
				if !keys[k] {
					t.Errorf("%s: %s missing from the bucket", ids[b], k)
				}
			}
			var a storage.AssetDoc
			if err := json.Unmarshal(m.Get(t, bucket, path.Join(prefix, ids[b], "assets", id, "asset.json")), &a); err != nil {
				t.Fatal(err)
			}
			if a.ID != id || a.Sync == nil || a.Sync.Status != "synced" || len(a.Locations) != 1 || !slices.Contains(dropped[b], a.Locations[0].Path) {
				t.Errorf("%s asset.json of %s: id %s sync %+v locations %+v", ids[b], id, a.ID, a.Sync, a.Locations)
			}
		}
	}
	if proxies != boxes*rounds {
		t.Errorf("%d assets with proxies, want %d (one clip per box and round)", proxies, boxes*rounds)
	}
	tChecked := time.Since(t0)

	// 3. A catalog re-created while the consumer follows: box3 is stopped,
	// `ingestd reset-catalog --yes` gives it a new catalog_id, and it
	// re-catalogs its volume from seq 1. The consumer reports the reset
	// (never skipping: its cursor was far above 1) and delivers the new
	// catalog's whole feed under the new catalog_id.
	e3, id3 := apps[boxes-1], ids[boxes-1]
	oldStatus, err := e3.client().Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	mark := len(hub.lines())
	hub.start()
	time.Sleep(time.Second) // following all three feeds again
	e3.stop()
	if out, errOut, code := e3.cli("reset-catalog", "--yes"); code != 0 {
		t.Fatalf("reset-catalog: exit %d\n%s%s", code, out, errOut)
	}
	e3.start()
	e3.writeFile("after-reset/notes.txt", []byte(id3+" after the reset\n"))
	newStatus, err := e3.client().Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if newStatus.CatalogID == oldStatus.CatalogID || newStatus.ApplianceID != id3 {
		t.Fatalf("after reset-catalog: appliance %s catalog %s (was %s)", newStatus.ApplianceID, newStatus.CatalogID, oldStatus.CatalogID)
	}
	// The consumer has caught up once it holds every event the feed had
	// when all files were cataloged again (sync and probing go on after:
	// what it stops at is compared with the feed up to its cursor).
	var newFeed []storage.Event
	fleetWaitUntil(t, mediaTimeout, "the consumer to follow box3's new catalog", func() bool {
		newFeed = e3.feedAll()
		if !hasPaths(storage.EvLocationAdded, append(slices.Clone(dropped[boxes-1]), "after-reset/notes.txt")...)(newFeed) {
			return false
		}
		got := map[uint64]bool{}
		for _, l := range hub.lines()[mark:] {
			if l.ApplianceID == id3 && l.CatalogID == newStatus.CatalogID {
				got[l.Event.Seq] = true
			}
		}
		for _, ev := range newFeed {
			if !got[ev.Seq] {
				return false
			}
		}
		return true
	})
	caughtUp := newFeed[len(newFeed)-1].Seq
	hub.stop()
	cur, err := hubfeed.LoadCursor(hub.state, fmt.Sprintf("box%d", boxes))
	if err != nil {
		t.Fatal(err)
	}
	if cur.CatalogID != newStatus.CatalogID || cur.After < caughtUp {
		t.Errorf("box%d cursor after the reset %+v, want catalog %s after >= %d", boxes, cur, newStatus.CatalogID, caughtUp)
	}
	newSeqs := map[uint64]storage.Event{}
	for _, l := range hub.lines()[mark:] {
		if l.ApplianceID != id3 {
			continue
		}
		if l.CatalogID != newStatus.CatalogID {
			t.Errorf("after the reset: %s seq %d under catalog %s, want %s", id3, l.Event.Seq, l.CatalogID, newStatus.CatalogID)
		}
		newSeqs[l.Event.Seq] = l.Event
	}
	newFeed = slices.DeleteFunc(e3.feedAll(), func(ev storage.Event) bool { return ev.Seq > cur.After })
	if len(newSeqs) != len(newFeed) || newFeed[0].Seq != 1 {
		t.Errorf("after the reset the consumer holds %d events of %s, its new feed up to the cursor %d %d (first seq %d)", len(newSeqs), id3, cur.After, len(newFeed), newFeed[0].Seq)
	}
	for _, ev := range newFeed {
		if got, ok := newSeqs[ev.Seq]; !ok || !fleetSameEvent(got, ev) {
			t.Errorf("after the reset: %s seq %d: consumer has %+v, feed %+v", id3, ev.Seq, got, ev)
		}
	}
	resetLine := regexp.MustCompile(`reset: the appliance's feed does not continue the cursor" .*appliance_id=` + id3 +
		` reason="catalog_id changed" old_catalog_id=` + oldStatus.CatalogID + ` new_catalog_id=` + newStatus.CatalogID)
	if n := len(resetLine.FindAllString(hub.log.String(), -1)); n != 1 {
		t.Errorf("consumer reported the reset of %s %d times, want once:\n%s", id3, n, hub.log.String())
	}

	t.Logf("fleet: %d appliances, %d files, %d kill -9 of appliances, %d of the consumer (%d runs); %d events (%d delivered again after a consumer kill, deduped), %d gaps in seq; %d objects, %d proxies; dropped in %v, settled at %v, checked at %v; catalog reset of %s followed (%d events of the new catalog), total %v",
		boxes, boxes*rounds*2, kills, hub.runs-2, hub.runs, totalEvents, dups, feedGaps, len(objs), proxies,
		tDropped.Round(time.Millisecond), tSettled.Round(time.Millisecond), tChecked.Round(time.Millisecond), id3, len(newFeed), time.Since(t0).Round(time.Millisecond))
}

func fleetSameEvent(a, b storage.Event) bool {
	return a.Seq == b.Seq && a.Type == b.Type && a.AssetID == b.AssetID && a.Volume == b.Volume && a.Path == b.Path && a.Detail == b.Detail && a.Time.Equal(b.Time)
}

// fleetSettled: every dropped path cataloged, every .mov's asset has
// proxy.ready and its analysis done (analysis.ready or .failed: it runs
// after the proxy, and under load its events came after a check that
// did not wait for it), and every asset's last event is asset.synced.
func fleetSettled(feed []storage.Event, dropped []string) bool {
	last := map[string]string{}
	ready := map[string]bool{}
	analysed := map[string]bool{} // after the proxy: its events come later
	for _, ev := range feed {
		if ev.AssetID != "" {
			last[ev.AssetID] = ev.Type
		}
		switch ev.Type {
		case storage.EvProxyReady:
			ready[ev.AssetID] = true
		case storage.EvAnalysisReady, storage.EvAnalysisFailed:
			analysed[ev.AssetID] = true
		}
	}
	for _, p := range dropped {
		id := assetOf(feed, p)
		if id == "" || (strings.HasSuffix(p, ".mov") && (!ready[id] || !analysed[id])) {
			return false
		}
	}
	for _, typ := range last {
		if typ != storage.EvAssetSynced {
			return false
		}
	}
	return true
}
