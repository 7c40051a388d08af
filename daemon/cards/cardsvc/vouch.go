package cardsvc

import (
	"context"
	"time"

	"github.com/ingestd/ingestd/daemon/cards"
)

// VouchEvery is how often the verified copies of each inserted card shown
// SAFE TO FORMAT are looked for again (vouchLoop).
const VouchEvery = 5 * time.Second

// vouchLoop keeps SAFE TO FORMAT in the status honest while a card stays
// inserted: every VouchEvery (Service.vouchEvery in tests) each card shown
// safe is looked at again (still what was offloaded?) and its verified
// copies are looked for (vouchOnce).
func (s *Service) vouchLoop(ctx context.Context) {
	every := s.vouchEvery
	if every <= 0 {
		every = VouchEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.vouchOnce()
		s.retryEject() // eject.go
	}
}

// vouchOnce looks at every inserted card shown safe (or no longer shown
// safe by an earlier look): a card whose content changed since it was
// offloaded is handled again (cardChanged); otherwise its verified copies
// are looked for. A copy whose volume is
// offline or does not answer (destOffline, bounded), or that is gone, turns
// the card NOT SAFE TO FORMAT in the status, naming the destination, as
// GET /v1/cards says; once every copy is back it is shown safe again. The
// card record is left as it is: the card's next insertion checks the
// copies itself and copies again what is gone.
func (s *Service) vouchOnce() {
	type slot struct {
		mp    string
		dests []DestState
	}
	s.mu.Lock()
	var slots []slot
	var failed []string
	for mp, p := range s.present {
		switch {
		case p.st.SafeToFormat || p.unvouched != "":
			slots = append(slots, slot{mp, append([]DestState(nil), p.st.Destinations...)})
		case p.st.State == StateFailed:
			failed = append(failed, mp)
		}
	}
	s.mu.Unlock()
	// A failed card that is changed while it stays inserted (a file with
	// a name ingestd reserves renamed, as the failure asked) is handled
	// again at once: no need to pull it and insert it again.
	for _, mp := range failed {
		s.cardChanged(mp)
	}
	offline := map[string]string{} // by volume: one check per look
	for _, sl := range slots {
		if s.cardChanged(sl.mp) {
			continue // handled again, as a new insertion
		}
		why := ""
		for _, d := range sl.dests {
			root, ok := s.vols[d.Volume]
			if !ok || d.State != cards.DestVerified {
				continue
			}
			w, seen := offline[d.Volume]
			if !seen {
				w = s.destOffline(d.Volume, root)
				offline[d.Volume] = w
			}
			if w != "" {
				why = d.Volume + ": verified copy cannot be checked (" + w + ")"
				break
			}
			if probe, gone := goneCopy(s.vols, d); gone {
				why = d.Volume + ": verified copy gone (missing " + probe + ")"
				break
			}
		}
		s.mu.Lock()
		p, ok := s.present[sl.mp]
		switch {
		case !ok:
		case why != "" && p.st.SafeToFormat:
			p.unvouched, p.safeMsg = why, p.st.Message
			p.st.SafeToFormat = false
			p.st.Message, p.unvouchedMsg = notSafeNow(why), notSafeNow(why)
			s.log.Warn("card no longer shown safe to format", "mount", sl.mp, "key", p.st.Key, "reason", why)
		case why != "" && p.unvouched != "" && p.st.Message == p.unvouchedMsg:
			p.unvouched = why
			p.st.Message, p.unvouchedMsg = notSafeNow(why), notSafeNow(why)
		case why == "" && p.unvouched != "":
			if !p.st.SafeToFormat && p.st.Message == p.unvouchedMsg {
				p.st.SafeToFormat, p.st.Message = true, p.safeMsg
				s.log.Info("card safe to format again: its verified copies are back", "mount", sl.mp, "key", p.st.Key)
			}
			p.unvouched, p.safeMsg, p.unvouchedMsg = "", "", ""
		}
		s.mu.Unlock()
	}
}

// notSafeNow is the status message of a card whose verified copies
// cannot be vouched for now (why).
func notSafeNow(why string) string {
	return "NOT SAFE TO FORMAT now: " + why + "; it was verified, and is shown safe again once the copy is back"
}

// FingerprintTimeout bounds a look at a card's content (cardChanged): a
// card that does not answer is left as it is, and not asked again until
// that look returns.
const FingerprintTimeout = 10 * time.Second

// cardChanged looks whether the card at mp still holds what was offloaded
// (its content fingerprint: the file list, sizes and times, as Identify
// computes it). A card left mounted read-write that has had files added,
// removed or rewritten since is not the card offloaded: it is no longer
// shown safe, and is handled again as a new insertion (identified anew,
// offloaded as the card it is now); true then.
func (s *Service) cardChanged(mp string) bool {
	s.mu.Lock()
	p, ok := s.present[mp]
	if !ok || p.id == nil || p.fpBusy || s.runCtx == nil || time.Now().Before(p.fpNext) {
		s.mu.Unlock()
		return false
	}
	id, m, ctx := *p.id, p.m, s.runCtx
	p.fpBusy = true
	s.mu.Unlock()
	ch := make(chan string, 1)
	go func() {
		t0 := time.Now()
		fp, err := cards.Fingerprint(mp, id.Layout, 0)
		if err != nil {
			fp = "" // unmounted meanwhile, unreadable: the watcher or the next look says
		}
		ch <- fp
		s.mu.Lock()
		// A card of many files on a slow reader is looked at less
		// often: at most about 5% of the time spent walking it.
		p.fpBusy, p.fpNext = false, time.Now().Add(20*time.Since(t0))
		s.mu.Unlock()
	}()
	t := time.NewTimer(FingerprintTimeout)
	defer t.Stop()
	var fp string
	select {
	case fp = <-ch:
	case <-t.C:
		return false
	}
	if fp == "" || fp == id.Fingerprint {
		return false
	}
	s.mu.Lock()
	still := s.present[mp] == p && ctx.Err() == nil
	wasFailed := p.st.State == StateFailed
	if still {
		p.st.SafeToFormat = false
	}
	s.mu.Unlock()
	if !still {
		return false
	}
	if wasFailed {
		s.log.Info("failed card changed while inserted: handled again", "mount", mp, "key", id.Key())
	} else {
		s.log.Warn("card changed since it was offloaded (files added, removed or rewritten): NOT safe to format; offloading it again as the card it is now",
			"mount", mp, "key", id.Key())
	}
	s.mounted(ctx, m)
	return true
}
