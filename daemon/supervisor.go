package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ingestd/ingestd/storage/catalog"
)

// Service is one long-running part of the daemon: a Run(ctx) error loop
// that returns when ctx is cancelled.
type Service struct {
	Name string
	Run  func(ctx context.Context) error
	// Restart marks a service whose errors are transient (a network
	// uploader, say): it is restarted with backoff instead of stopping the
	// daemon. An error from a service without Restart stops every service
	// and becomes the daemon's error, except catalog.ErrNoSpace (a full
	// state disk), which is transient for every service.
	Restart bool
}

// Supervisor runs services together, errgroup-like, with restarts for the
// services marked Restart.
type Supervisor struct {
	Log *slog.Logger
	// MinBackoff and MaxBackoff bound the delay before a restart; it
	// doubles after each failure and resets once a run lasted StableAfter.
	MinBackoff, MaxBackoff, StableAfter time.Duration
	// StopTimeout bounds the drain once the services are cancelled
	// (default DefaultStopTimeout): a service stuck in a system call that
	// cannot be interrupted (a read on a hung NFS server) is abandoned and
	// named in the log, so the daemon exits before systemd's
	// TimeoutStopSec (90 s) and its SIGKILL.
	StopTimeout time.Duration
}

// DefaultStopTimeout is the drain limit when StopTimeout is 0.
const DefaultStopTimeout = 60 * time.Second

// Run starts every service and blocks until ctx is cancelled and all have
// returned (result nil), or until a service without Restart fails: then
// the others are cancelled and drained, and its error is returned.
func (s *Supervisor) Run(ctx context.Context, services []Service) error {
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	running := map[string]int{}
	for _, svc := range services {
		wg.Add(1)
		mu.Lock()
		running[svc.Name]++
		mu.Unlock()
		go func() {
			defer wg.Done()
			defer func() {
				mu.Lock()
				if running[svc.Name]--; running[svc.Name] <= 0 {
					delete(running, svc.Name)
				}
				mu.Unlock()
			}()
			if err := s.runOne(ctx, log.With("service", svc.Name), svc); err != nil {
				cancel(err)
			}
		}()
	}
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-ctx.Done():
		stop := s.StopTimeout
		if stop <= 0 {
			stop = DefaultStopTimeout
		}
		select {
		case <-drained:
		case <-time.After(stop):
			mu.Lock()
			var stuck []string
			for name := range running {
				stuck = append(stuck, name)
			}
			mu.Unlock()
			log.Error("services still running after the stop timeout; exiting without them", "services", stuck, "timeout", stop)
		}
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func (s *Supervisor) runOne(ctx context.Context, log *slog.Logger, svc Service) error {
	minBackoff := s.MinBackoff
	if minBackoff <= 0 {
		minBackoff = time.Second
	}
	maxBackoff := max(s.MaxBackoff, minBackoff)
	if s.MaxBackoff <= 0 {
		maxBackoff = max(time.Minute, minBackoff)
	}
	backoff := minBackoff
	stable := s.StableAfter
	if stable <= 0 {
		stable = time.Minute
	}
	for {
		start := time.Now()
		err := runSafe(ctx, svc)
		if ctx.Err() != nil {
			if err != nil && !errors.Is(err, context.Canceled) {
				log.Warn("service stopped with error", "err", err)
			}
			return nil
		}
		if err == nil {
			log.Debug("service finished")
			return nil
		}
		// A full state disk is transient for every service: the catalog
		// refused the write before Badger could fault on it, the disk
		// guard pauses the writers, and space coming back lets the
		// service go on (stopping the daemon would only crash Badger's
		// close, whose memtable flush needs the space that is not there).
		if !svc.Restart && !errors.Is(err, catalog.ErrNoSpace) {
			log.Error("service failed; stopping daemon", "err", err)
			return fmt.Errorf("service %s: %w", svc.Name, err)
		}
		if time.Since(start) >= stable {
			backoff = minBackoff // it ran well for a while: start over
		}
		log.Warn("service failed; restarting", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// runSafe turns a panic in a service into an error, so a restartable
// service survives it and any other stops the daemon cleanly.
func runSafe(ctx context.Context, svc Service) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return svc.Run(ctx)
}
