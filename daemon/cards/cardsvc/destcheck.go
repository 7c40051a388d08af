package cardsvc

import (
	"errors"

	"github.com/ingestd/ingestd/daemon/watch"
	"github.com/ingestd/ingestd/storage"
)

// destOffline says why destination volume name (at root) must not be
// written now, "" when it may. The volume's identity as the ingest
// recorded it (its marker) must be at root: an unmounted NAS share or
// shuttle drive leaves an empty mount point on the system disk, and a
// copy written there would be "verified" and the card called safe while
// nothing is on the volume.
func (s *Service) destOffline(name, root string) string {
	rec, err := s.cat.Volume(name)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		rec = storage.Volume{Name: name, Path: root}
	case err != nil:
		return "volume record unreadable: " + err.Error()
	}
	if why := watch.WritableVolume(root, rec); why != "" {
		return "volume " + name + " offline: " + why
	}
	return ""
}
