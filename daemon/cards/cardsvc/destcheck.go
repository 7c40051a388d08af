package cardsvc

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ingestd/ingestd/daemon/watch"
	"github.com/ingestd/ingestd/storage"
)

// DestCheckTimeout bounds one destination check, as the ingest bounds its
// volume identity check: a destination whose mount does not answer (a
// hung NFS or SMB share) is offline, and the card's offload goes on
// without it instead of waiting on the kernel.
const DestCheckTimeout = 15 * time.Second

// destOffline says why destination volume name (at root) must not be
// written now, "" when it may. The volume's identity as the ingest
// recorded it (its marker) must be at root: an unmounted NAS share or
// shuttle drive leaves an empty mount point on the system disk, and a
// copy written there would be "verified" and the card called safe while
// nothing is on the volume. A check that does not answer within
// DestCheckTimeout (Service.destTimeout in tests) is "volume <name>
// offline: not responding: …".
func (s *Service) destOffline(name, root string) string {
	rec, err := s.cat.Volume(name)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		rec = storage.Volume{Name: name, Path: root}
	case err != nil:
		return "volume record unreadable: " + err.Error()
	}
	if why := s.writableVolume(name, root, rec); why != "" {
		return "volume " + name + " offline: " + why
	}
	return ""
}

// writableVolume runs watch.WritableVolume within the check timeout
// (one check per volume at a time: flight).
func (s *Service) writableVolume(name, root string, rec storage.Volume) string {
	timeout := s.destTimeout
	if timeout <= 0 {
		timeout = DestCheckTimeout
	}
	why, ok := s.destChecks.do(name+"\x00"+root, time.Now().Add(timeout), func() string {
		return watch.WritableVolume(root, rec)
	})
	if !ok {
		return fmt.Sprintf("%s%s did not answer within %s", notResponding, root, timeout)
	}
	return why
}

// notResponding starts the reason of a destination check that timed out.
const notResponding = "not responding: "

// hung reports whether why (destOffline) says the volume's mount does not
// answer: nothing on it may be looked at now, not even listed.
func hung(why string) bool { return strings.Contains(why, notResponding) }

// uncheckedKey is the state key holding the folder a destination of a
// card was claimed from while its volume did not answer (claimIn without
// looking): it is claimed again, looking, before that volume is written.
func uncheckedKey(card, volume string) string { return "cards/unchecked/" + card + "\x00" + volume }

// recheckFolder claims destination i of rec again when its folder was
// claimed without looking into its volume (uncheckedKey), now that the
// volume answers: another card's folder of the same name there is never
// written into. The record is stored with the folder before the mark is
// dropped.
func (s *Service) recheckFolder(rec *Record, i int) error {
	d := &rec.Destinations[i]
	var base string
	if err := s.cat.GetState(uncheckedKey(rec.Key, d.Volume), &base); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("card %s: destination %s: %w", rec.Key, d.Volume, err)
	}
	v := Volume{Name: d.Volume, Path: s.vols[d.Volume]}
	s.mu.Lock()
	delete(s.claimed, v.Name+"\x00"+d.Path)
	s.mu.Unlock()
	d.Path = s.claimFolderIn(v, base)
	if i == 0 && firstVerified(rec) < 0 { // the primary until a copy is verified
		rec.Volume, rec.Folder = d.Volume, d.Path
	}
	if err := s.cat.PutCard(*rec); err != nil {
		return fmt.Errorf("card %s: %w", rec.Key, err)
	}
	return s.cat.DeleteState(uncheckedKey(rec.Key, d.Volume))
}
