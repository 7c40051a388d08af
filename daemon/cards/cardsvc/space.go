package cardsvc

import (
	"context"
	"slices"
	"strings"
)

// SpaceStateDir is the name Space.Low gives the state dir (the catalog
// and the offload reports): while it is low nothing is written anywhere.
const SpaceStateDir = "the state dir"

// Space is the free-space guard of what card offload writes (the daemon's
// disk guard, daemon/diskguard): each call may come from any goroutine.
type Space struct {
	// Low returns those of volumes (destination volume names) that are
	// below disk.min_free now, and SpaceStateDir first when the state dir
	// is; none when all have room.
	Low func(volumes []string) []string
	// Changed returns a channel closed at the next change of what Low
	// would say; taken before Low, so that no change is missed.
	Changed func() <-chan struct{}
}

// lowMessage is what a card or destination shows while it waits on low.
func lowMessage(low []string) string {
	return "waiting: disk space below disk.min_free on " + strings.Join(low, ", ")
}

// waitSpace blocks until ok(low) holds for the volumes below the floor
// (low as Space.Low says for vols), calling show with the volumes waited
// on each time they change (nothing when there is no wait). It returns the
// volumes still low once ok, or ctx's error. With no guard nothing is low.
func (s *Service) waitSpace(ctx context.Context, vols []string, ok func(low []string) bool, show func(low []string)) ([]string, error) {
	if s.space == nil {
		return nil, nil
	}
	var shown []string
	for {
		ch := s.space.Changed()
		low := s.space.Low(vols)
		if ok(low) {
			return low, nil
		}
		if !slices.Equal(low, shown) {
			show(low)
			s.log.Info("card offload waiting for free space", "low", low)
			shown = low
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		}
	}
}

// lowNow returns those of vols below the floor now (SpaceStateDir first
// when the state dir is); none without a guard.
func (s *Service) lowNow(vols []string) []string {
	if s.space == nil {
		return nil
	}
	return s.space.Low(vols)
}
