package cards

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/internal/safefs"
)

// ErrNotResponding: a destination's filesystem stopped answering during the
// card pass (a hung NFS or SMB share, a FUSE server that stopped): it was
// left behind and the pass went on without it.
var ErrNotResponding = errors.New("destination not responding")

// hangWatch belongs to one destination of a pass: whether it was left
// behind, and the goroutines that may still be using its folder.
type hangWatch struct {
	abandoned   chan struct{} // closed when the destination is left behind
	abandonOnce sync.Once
	exited      chan struct{} // closed when its writer and verifier returned
	bg          sync.WaitGroup
	probeSince  atomic.Int64 // unix nanoseconds a statfs is in flight since; 0: none
}

func newHangWatch() hangWatch {
	return hangWatch{abandoned: make(chan struct{}), exited: make(chan struct{})}
}

// isAbandoned reports whether the destination was left behind.
func (d *dest) isAbandoned() bool {
	select {
	case <-d.abandoned:
		return true
	default:
		return false
	}
}

// waitExit waits until the destination's writer and verifier returned, or
// it was left behind.
func (d *dest) waitExit() {
	select {
	case <-d.exited:
	case <-d.abandoned:
	}
}

// waitDone waits for done, or until the destination was left behind.
func (d *dest) waitDone(done <-chan struct{}) {
	select {
	case <-done:
	case <-d.abandoned:
	}
}

// watchHangs checks, every HangTimeout/4, that each destination's
// filesystem still answers a statfs (which a hung NFS share or FUSE server
// never does, while a slow but working disk does at once); one that has
// not answered for HangTimeout is left behind (abandon). It returns the
// function that stops it.
func (o *offloader) watchHangs() func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(max(o.opts.HangTimeout/4, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			now := time.Now()
			for _, d := range o.dests {
				if d.dir == nil || d.isAbandoned() {
					continue
				}
				since := d.probeSince.Load()
				if since == 0 {
					d.probeSince.Store(now.UnixNano())
					go func() {
						var fs unix.Statfs_t
						unix.Statfs(d.Dir, &fs) // a path: no descriptor of the pass is used
						d.probeSince.Store(0)
					}()
					continue
				}
				if waited := now.Sub(time.Unix(0, since)); waited >= o.opts.HangTimeout {
					o.abandon(d, fmt.Errorf("%w: %s did not answer within %s", ErrNotResponding, d.Dir, waited.Round(time.Second)))
				}
			}
		}
	}()
	return func() {
		close(stop)
		<-done
	}
}

// abandon leaves destination d behind: it fails with err, the pass stops
// waiting for it, and the blocks it holds are replaced so the card goes
// on. Nothing is written to d here (it does not answer); its goroutines
// return, and clean up, whenever their system calls do.
func (o *offloader) abandon(d *dest, err error) {
	d.mu.Lock()
	if d.err == nil {
		d.err, d.failedPath = err, d.cur
	}
	wasDropped := d.dropped
	d.gone, d.ph, d.dropped = true, DestFailed, true
	d.mu.Unlock()
	first := false
	d.abandonOnce.Do(func() {
		close(d.abandoned)
		first = true
	})
	if !first {
		return
	}
	d.log.Warn("destination left behind", "dst", d.Dir, "err", err)
	if !wasDropped {
		for i := int32(0); i < d.held.Load(); i++ {
			select {
			case o.pool <- newBlock(o.opts.BufferSize):
			default:
			}
		}
	}
}

// closeDirs closes each destination's folder once nothing uses it. It
// waits for the goroutines using a destination, or until it is left
// behind (the watch still runs): then the folder is closed whenever they
// return (they may still be blocked in calls on that descriptor, and must
// not find the number reused).
func (o *offloader) closeDirs() {
	for _, d := range o.dests {
		if d.dir == nil {
			continue
		}
		dir := d.dir
		idle := make(chan struct{})
		go func() {
			d.bg.Wait()
			close(idle)
		}()
		select {
		case <-idle:
			dir.Close()
		case <-d.abandoned:
			go func() {
				<-idle
				dir.Close()
			}()
		}
	}
}

// openDests opens every destination's folder (made if missing), reads its
// progress file and, in a folder that was there already, removes what an
// earlier pass left half-written for the card's files, all at once. One
// that has not answered within
// HangTimeout (a share that hung before the card was read) is left behind
// like one that hangs during the pass; its folder is closed whenever the
// open returns.
func (o *offloader) openDests(files []srcFile) {
	type opened struct {
		dir      *safefs.Dir
		err      error // opening the folder
		state    []byte
		stateErr error // reading the progress file
	}
	res := make([]chan opened, len(o.dests))
	for i, d := range o.dests {
		res[i] = make(chan opened, 1)
		go func() {
			var r opened
			var existed bool
			r.dir, existed, r.err = d.openDir()
			if r.err == nil {
				r.state, r.stateErr = r.dir.ReadFile(StateName, MaxStateSize)
				if existed {
					if n := removeLeftovers(r.dir, files); n > 0 {
						d.log.Info("removed partial files an earlier pass left", "dst", d.Dir, "files", n)
					}
				}
			}
			res[i] <- r
		}()
	}
	expired := make(chan struct{})
	t := time.AfterFunc(o.opts.HangTimeout, func() { close(expired) })
	defer t.Stop()
	for i, d := range o.dests {
		var r opened
		select {
		case r = <-res[i]:
		case <-expired:
			select {
			case r = <-res[i]: // answered meanwhile
			default:
				o.abandon(d, fmt.Errorf("%w: %s did not answer within %s", ErrNotResponding, d.Dir, o.opts.HangTimeout))
				go func() {
					if r := <-res[i]; r.dir != nil {
						r.dir.Close()
					}
				}()
				continue
			}
		}
		if r.err != nil {
			d.fail("", r.err)
			continue
		}
		d.dir = r.dir
		d.loadState(r.state, r.stateErr)
	}
}
