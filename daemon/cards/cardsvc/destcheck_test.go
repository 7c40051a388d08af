package cardsvc

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
)

// A destination on a hung mount (a FUSE server stopped, as a dead NFS
// share) is reported offline, "not responding", within the check's
// timeout instead of blocking the card's offload; callers meanwhile share
// the check still blocked in the kernel; once the mount answers it is
// online again.
func TestDestOfflineHungMount(t *testing.T) {
	mnt, fuse := testutil.MountBindfs(t)
	cat := catalogtest.Open(t, t.TempDir())
	s := &Service{cat: cat, log: slogDiscard(), vols: map[string]string{"nas": mnt}, destTimeout: 300 * time.Millisecond}
	if why := s.destOffline("nas", mnt); why != "" {
		t.Fatalf("answering mount offline: %s", why)
	}

	if err := fuse.Signal(syscall.SIGSTOP); err != nil { // the mount hangs
		t.Fatal(err)
	}
	// The precondition: a stat of the mount now blocks.
	statted := make(chan struct{})
	go func() { os.Stat(filepath.Join(mnt, "x")); close(statted) }()
	select {
	case <-statted:
		t.Fatal("a stat of the stopped mount answered: the test proves nothing")
	case <-time.After(500 * time.Millisecond):
	}
	for i := 0; i < 3; i++ {
		start := time.Now()
		why := s.destOffline("nas", mnt)
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("check took %s on a hung mount", took)
		}
		if !strings.HasPrefix(why, "volume nas offline: not responding: "+mnt+" did not answer within 300ms") {
			t.Fatalf("hung mount: %q", why)
		}
	}
	s.destChecks.mu.Lock()
	running := len(s.destChecks.calls)
	s.destChecks.mu.Unlock()
	if running != 1 {
		t.Fatalf("%d checks running on the hung mount, want the one shared", running)
	}

	fuse.Signal(syscall.SIGCONT)
	<-statted
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		why := s.destOffline("nas", mnt)
		if why == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mount answering again, still %q", why)
		}
		runtime.Gosched()
	}
}

// A destination folder claimed while its volume did not answer (not
// looked into) is claimed again, looking, before the volume is written:
// another card's folder of that name found there then is not used.
func TestRecheckFolder(t *testing.T) {
	cat := catalogtest.Open(t, t.TempDir())
	vol := t.TempDir()
	s := &Service{cat: cat, log: slogDiscard(), vols: map[string]string{"nas": vol}}
	v := Volume{Name: "nas", Path: vol}
	// Another card's copy is in NO NAME: unseen while the volume hangs.
	if err := os.MkdirAll(filepath.Join(vol, "NO NAME", "DCIM"), 0o755); err != nil {
		t.Fatal(err)
	}
	rec := Record{Key: "uuid:1/1", Destinations: []DestState{{Volume: "nas", Path: s.claimIn(v, "NO NAME", false), State: cards.DestFailed}}}
	rec.Volume, rec.Folder = "nas", rec.Destinations[0].Path
	if rec.Folder != "NO NAME" {
		t.Fatalf("claimed without looking: %q", rec.Folder)
	}
	if err := cat.PutState(uncheckedKey(rec.Key, "nas"), "NO NAME"); err != nil {
		t.Fatal(err)
	}
	if err := s.recheckFolder(&rec, 0); err != nil {
		t.Fatal(err)
	}
	if rec.Destinations[0].Path != "NO NAME-2" || rec.Folder != "NO NAME-2" {
		t.Fatalf("claimed again: %+v", rec)
	}
	stored, err := cat.Card(rec.Key)
	if err != nil || stored.Destinations[0].Path != "NO NAME-2" {
		t.Fatalf("stored record: %+v %v", stored, err)
	}
	var base string
	if err := cat.GetState(uncheckedKey(rec.Key, "nas"), &base); err == nil {
		t.Fatal("mark kept after the folder was claimed again")
	}
	// Claimed by looking: nothing to do again.
	if err := s.recheckFolder(&rec, 0); err != nil || rec.Destinations[0].Path != "NO NAME-2" {
		t.Fatalf("second recheck: %+v %v", rec, err)
	}
}

// TestReportHungDestinationLeftBehind: a verified destination whose share
// stops answering (bindfs SIGSTOPped) before the card's report is written
// holds neither writeReport nor the other destination: the report lands
// in the state dir and the answering destination, card.report_ready is
// appended, within the check timeout; the write left behind finishes once
// the share answers again.
func TestReportHungDestinationLeftBehind(t *testing.T) {
	cat := catalogtest.Open(t, t.TempDir())
	stateDir, raid := t.TempDir(), t.TempDir()
	shuttle, fuse := testutil.MountBindfs(t)
	rec := reportRecord("A001", "uuid:1234-ABCD/ff00")
	rec.Destinations[1].State, rec.Destinations[1].Error = cards.DestVerified, ""
	for _, v := range []string{raid, shuttle} {
		if err := os.MkdirAll(filepath.Join(v, rec.Folder, "ascmhl"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := &Service{cat: cat, log: slogDiscard(), vols: map[string]string{"raid": raid, "shuttle": shuttle}, destTimeout: 300 * time.Millisecond}
	s.SetReports(stateDir)
	if err := cat.PutCard(rec); err != nil {
		t.Fatal(err)
	}
	if err := fuse.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			fuse.Signal(syscall.SIGCONT)
		}
	}()
	done := make(chan struct{})
	go func() { s.writeReport(rec.Key, true); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		fuse.Signal(syscall.SIGCONT)
		stopped = false
		<-done
		t.Fatal("writeReport waited for the hung destination until it answered")
	}
	if _, err := os.Stat(filepath.Join(raid, rec.Folder, ReportHTMLName)); err != nil {
		t.Fatalf("answering destination: %v", err)
	}
	evs, err := cat.Events(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	ready := 0
	for _, e := range evs {
		if e.Type == EvCardReportReady {
			ready++
		}
	}
	if ready != 1 {
		t.Fatalf("%d card.report_ready events", ready)
	}
	fuse.Signal(syscall.SIGCONT)
	stopped = false
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(shuttle, rec.Folder, ReportJSONName)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the write left behind never finished once the share answered")
		}
	}
}

// TestVouchSafeCard: an inserted card shown SAFE TO FORMAT is shown NOT
// safe while the share holding one of its verified copies does not answer
// (bindfs SIGSTOPped), naming that volume and not the other, and safe
// again, with its message, once the share answers; a copy deleted meanwhile
// turns it NOT safe too.
func TestVouchSafeCard(t *testing.T) {
	cat := catalogtest.Open(t, t.TempDir())
	raid := t.TempDir()
	shuttle, fuse := testutil.MountBindfs(t)
	rec := reportRecord("A001", "uuid:1234-ABCD/ff00")
	rec.Destinations[1].State, rec.Destinations[1].Error, rec.Destinations[1].Generation = cards.DestVerified, "", "0001_x.mhl"
	for _, v := range []string{raid, shuttle} {
		if err := os.MkdirAll(filepath.Join(v, rec.Folder, "ascmhl", "0001_x.mhl"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := &Service{cat: cat, log: slogDiscard(), vols: map[string]string{"raid": raid, "shuttle": shuttle}, destTimeout: 300 * time.Millisecond,
		present: map[string]*present{}}
	const safeMsg = "offloaded: safe to eject, SAFE TO FORMAT (2 destinations verified)"
	s.present["/media/A001"] = &present{st: CardStatus{Mount: "/media/A001", Key: rec.Key, State: StateOffloaded, Message: safeMsg,
		SafeToFormat: true, Destinations: rec.Destinations}}
	shown := func() CardStatus {
		st := s.Status()
		if len(st.Cards) != 1 {
			t.Fatalf("cards: %+v", st.Cards)
		}
		return st.Cards[0]
	}
	s.vouchOnce()
	if c := shown(); !c.SafeToFormat || c.Message != safeMsg {
		t.Fatalf("both copies there: %+v", c)
	}

	if err := fuse.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			fuse.Signal(syscall.SIGCONT)
		}
	}()
	s.vouchOnce()
	c := shown()
	if c.SafeToFormat || !strings.HasPrefix(c.Message, "NOT SAFE TO FORMAT now: shuttle: verified copy cannot be checked (") ||
		!strings.Contains(c.Message, "not responding") || strings.Contains(c.Message, "raid") {
		t.Fatalf("share hung: %+v", c)
	}
	fuse.Signal(syscall.SIGCONT)
	stopped = false
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		s.vouchOnce()
		if c := shown(); c.SafeToFormat {
			if c.Message != safeMsg {
				t.Fatalf("safe again, message %q", c.Message)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("share answering again, still %+v", shown())
		}
	}

	if err := os.RemoveAll(filepath.Join(raid, rec.Folder)); err != nil {
		t.Fatal(err)
	}
	s.vouchOnce()
	if c := shown(); c.SafeToFormat || !strings.Contains(c.Message, "raid: verified copy gone") {
		t.Fatalf("copy deleted: %+v", c)
	}
}

// TestMarkInterrupted: a card record left "copying" by a daemon that was
// killed mid-pass is failed, Interrupted, at the next start (its
// destinations that were copying too); others are left as they are.
func TestMarkInterrupted(t *testing.T) {
	cat := catalogtest.Open(t, t.TempDir())
	copying := reportRecord("A001", "uuid:1/a")
	copying.Status, copying.SafeToFormat = StateCopying, false
	copying.Destinations[0].State, copying.Destinations[1].State = cards.DestVerified, cards.DestCopying
	safe := reportRecord("B001", "uuid:1/b")
	for _, r := range []Record{copying, safe} {
		if err := cat.PutCard(r); err != nil {
			t.Fatal(err)
		}
	}
	s := &Service{cat: cat, log: slogDiscard()}
	s.markInterrupted()
	got, err := cat.Card(copying.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StateFailed || got.Reason != Interrupted || got.SafeToFormat ||
		got.Destinations[0].State != cards.DestVerified || got.Destinations[1].State != cards.DestFailed || got.Destinations[1].Error != Interrupted {
		t.Fatalf("interrupted card: %+v", got)
	}
	if got, err := cat.Card(safe.Key); err != nil || got.Status != StateOffloaded || !got.SafeToFormat || got.Reason != "" {
		t.Fatalf("safe card: %+v %v", got, err)
	}
}

// A card that changed between two insertions (written to while read) has a
// failed record under its first content and a safe one under the second:
// once safe, the failed record says it was superseded, by what; records of
// other cards, and a card without a filesystem UUID, are left alone (a
// trial saw "WCARD failed NOT SAFE" listed for good next to the safe one).
func TestSupersede(t *testing.T) {
	cat := catalogtest.Open(t, t.TempDir())
	failed := reportRecord("WCARD", "uuid:FB9F-FA12/aaaa")
	failed.Status, failed.SafeToFormat, failed.Reason = StateFailed, false, "read DCIM/X.MP4: written to while read"
	failed.Identity.UUID = "FB9F-FA12"
	other := reportRecord("OTHER", "uuid:0000-1111/cccc")
	other.Status, other.SafeToFormat, other.Reason = StateFailed, false, "destination full"
	other.Identity.UUID = "0000-1111"
	safe := reportRecord("WCARD", "uuid:FB9F-FA12/bbbb")
	safe.Identity.UUID, safe.Folder = "FB9F-FA12", "2026-11-23/WCARD-2"
	for _, r := range []Record{failed, other, safe} {
		if err := cat.PutCard(r); err != nil {
			t.Fatal(err)
		}
	}
	s := &Service{cat: cat, log: slogDiscard()}
	s.supersede(&safe, s.log)
	got, err := cat.Card(failed.Key)
	want := Superseded + "WCARD (id " + CardID(safe.Key) + ", raid/2026-11-23/WCARD-2); it had failed: read DCIM/X.MP4: written to while read"
	if err != nil || got.Reason != want || got.Status != StateFailed || got.SafeToFormat {
		t.Fatalf("superseded record: %+v %v\nwant reason %q", got, err, want)
	}
	s.supersede(&safe, s.log) // once
	if again, _ := cat.Card(failed.Key); again.Reason != want {
		t.Fatalf("superseded twice: %q", again.Reason)
	}
	if got, _ := cat.Card(other.Key); got.Reason != "destination full" {
		t.Fatalf("another card's record changed: %q", got.Reason)
	}
	noUUID := safe
	noUUID.Identity.UUID = ""
	failed.Key, failed.Identity.UUID = "fp:dddd", ""
	cat.PutCard(failed)
	s.supersede(&noUUID, s.log)
	if got, _ := cat.Card("fp:dddd"); got.Reason != "read DCIM/X.MP4: written to while read" {
		t.Fatalf("record without a UUID superseded: %q", got.Reason)
	}
}
