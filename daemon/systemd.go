package daemon

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// notify sends one sd_notify state. It never unsets NOTIFY_SOCKET (later
// WATCHDOG=1 pings must still reach systemd) and is a no-op without systemd.
func notify(log *slog.Logger, states ...string) {
	if _, err := sd.SdNotify(false, strings.Join(states, "\n")); err != nil {
		log.Debug("sd_notify failed", "state", states, "err", err)
	}
}

// Probe is a liveness counter: a loop that is alive advances it (on work
// done and on its idle ticks alike). A wedged loop stops advancing it.
type Probe struct {
	Name  string
	Count func() uint64
}

// Watchdog sends WATCHDOG=1 at half of systemd's interval, but only while
// every probe advanced within Stall; it also refreshes the STATUS= line.
type Watchdog struct {
	Log      *slog.Logger
	Interval time.Duration // systemd's WatchdogSec; 0 = no watchdog pings
	Stall    time.Duration // a probe unchanged this long is wedged
	Probes   []Probe
	Status   func() string // the STATUS= line
	// StatusEvery is how often STATUS= is refreshed (default 5s).
	StatusEvery time.Duration
	// Ready reports whether READY=1 was sent. Until then, while every
	// probe advances, each tick sends EXTEND_TIMEOUT_USEC=StartExtend: the
	// first reconcile walk of a large, already cataloged NAS tree can take
	// longer than systemd's start timeout (TimeoutStartSec, 90 s by
	// default), which would kill a daemon that is making progress and
	// restart it into the same walk for ever. A start that stops
	// progressing still times out StartExtend after its last progress.
	Ready       func() bool
	StartExtend time.Duration // default 90s
}

// Run pings until ctx is done. Without systemd (no NOTIFY_SOCKET) it
// returns at once.
func (w *Watchdog) Run(ctx context.Context) error {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return nil
	}
	tick := w.StatusEvery
	if tick <= 0 {
		tick = 5 * time.Second
	}
	if w.Interval > 0 {
		tick = min(tick, w.Interval/2)
	}
	stall := w.Stall
	if stall <= 0 {
		stall = max(w.Interval, 30*time.Second)
	}
	type seen struct {
		v       uint64
		changed time.Time
	}
	last := make([]seen, len(w.Probes))
	now := time.Now()
	for i, p := range w.Probes {
		last[i] = seen{p.Count(), now}
	}
	var lastStatus string
	var lastStalled string
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := time.Now()
		stalled := ""
		for i, p := range w.Probes {
			if v := p.Count(); v != last[i].v {
				last[i] = seen{v, now}
			} else if now.Sub(last[i].changed) > stall {
				stalled = p.Name
			}
		}
		if stalled != lastStalled {
			if stalled != "" {
				w.Log.Error("loop made no progress; withholding watchdog ping", "loop", stalled, "stall", stall)
			} else {
				w.Log.Info("loops progress again")
			}
			lastStalled = stalled
		}
		if w.Interval > 0 && stalled == "" {
			notify(w.Log, "WATCHDOG=1")
		}
		if w.Ready != nil && stalled == "" && !w.Ready() {
			ext := w.StartExtend
			if ext <= 0 {
				ext = 90 * time.Second
			}
			notify(w.Log, "EXTEND_TIMEOUT_USEC="+strconv.FormatInt(ext.Microseconds(), 10))
		}
		if w.Status != nil {
			if s := w.Status(); s != lastStatus {
				notify(w.Log, "STATUS="+s)
				lastStatus = s
			}
		}
	}
}
