package transcode

import (
	"context"
	"errors"
	"time"
)

// ErrLaneJobQueued: a lane job of that name is already queued or running.
var ErrLaneJobQueued = errors.New("a lane job of that name is already queued or running")

// ErrNotRunning: the stage stopped before a queued lane job ran.
var ErrNotRunning = errors.New("transcode stage not running")

// laneJob is work of another stage run on a lane (RunOnLane).
type laneJob struct {
	fn   func(ctx context.Context, r *Runner) error
	done chan error // buffered: the result, sent once
	gone chan struct{}
}

// laneJobPrefix keeps lane job names apart from asset ids in the job table.
const laneJobPrefix = "lane:"

// RunOnLane runs fn as a job of the CPU lane, for FFmpeg work of other
// stages (the card service's whole-clip proxies): it waits its turn in the
// lane's queue behind the proxies queued before it, takes one of the lane's
// proxy.cpu_jobs workers while it runs (and the disk gate before it, like a
// proxy), and fn gets a Runner with the stage's FFmpeg, stall watchdog
// (proxy.stall_timeout) and process-group kill. It returns fn's result, or
// ctx's error when ctx ends first (fn then does not start, or runs on to
// the end of the stage's own context), ErrLaneJobQueued when a job of that
// name is queued or running, ErrNotRunning when the stage stops first.
// Lane jobs count in proxy.lanes[].running/queued of the status; they are
// not listed in proxy.running (which lists assets) nor persisted.
func (s *Service) RunOnLane(ctx context.Context, name string, fn func(ctx context.Context, r *Runner) error) error {
	j := &job{ID: laneJobPrefix + name, Queued: time.Now().UTC(),
		ext: &laneJob{fn: fn, done: make(chan error, 1), gone: make(chan struct{})}}
	s.mu.Lock()
	if _, ok := s.jobs[j.ID]; ok {
		s.mu.Unlock()
		return ErrLaneJobQueued
	}
	j.lane = LaneCPU
	s.jobs[j.ID] = j
	s.queue[LaneCPU] = append(s.queue[LaneCPU], j)
	select {
	case s.wake[LaneCPU] <- struct{}{}:
	default:
	}
	s.mu.Unlock()
	select {
	case err := <-j.ext.done:
		return err
	case <-ctx.Done():
		close(j.ext.gone) // not started yet: never starts
		return ctx.Err()
	}
}

// runLaneJob runs a lane job on a worker of lane.
func (s *Service) runLaneJob(ctx context.Context, j *job) {
	var err error
	select {
	case <-j.ext.gone:
		err = context.Canceled
	default:
		if ctx.Err() != nil { // the stage is stopping: not started now
			err = ErrNotRunning
			break
		}
		s.mu.Lock()
		r := &Runner{FFmpeg: s.tools.FFmpeg, Stall: s.cfg.StallTimeout, Log: s.log.With("job", j.ID)}
		s.mu.Unlock()
		err = j.ext.fn(ctx, r)
	}
	s.mu.Lock()
	delete(s.jobs, j.ID)
	s.mu.Unlock()
	j.ext.done <- err
}

// failLaneJobs ends every queued lane job with ErrNotRunning (the stage
// stops; a running one has already ended with the workers' context).
func (s *Service) failLaneJobs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for lane, q := range s.queue {
		keep := q[:0]
		for _, j := range q {
			if j.ext == nil {
				keep = append(keep, j)
				continue
			}
			delete(s.jobs, j.ID)
			j.ext.done <- ErrNotRunning
		}
		s.queue[lane] = keep
	}
}
