package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Service is one long-running part of the daemon: a Run(ctx) error loop
// that returns when ctx is cancelled.
type Service struct {
	Name string
	Run  func(ctx context.Context) error
	// Restart marks a service whose errors are transient (a network
	// uploader, say): it is restarted with backoff instead of stopping the
	// daemon. An error from a service without Restart stops every service
	// and becomes the daemon's error.
	Restart bool
}

// Supervisor runs services together, errgroup-like, with restarts for the
// services marked Restart.
type Supervisor struct {
	Log *slog.Logger
	// MinBackoff and MaxBackoff bound the delay before a restart; it
	// doubles after each failure and resets once a run lasted StableAfter.
	MinBackoff, MaxBackoff, StableAfter time.Duration
}

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
	for _, svc := range services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.runOne(ctx, log.With("service", svc.Name), svc); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
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
		if !svc.Restart {
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
