package cardsvc

import (
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zeebo/blake3"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

// clipID is a stable id for a clip of a card: 32 lowercase hex characters.
func clipID(cardKey, name string) string {
	sum := blake3.Sum256([]byte(cardKey + "\x00" + name))
	return hex.EncodeToString(sum[:16])
}

// ValidClipID reports whether id looks like a clip id: 32 lowercase hex
// characters (a malformed id is a 400, like an asset id).
func ValidClipID(id string) bool {
	return len(id) == 32 && strings.Trim(id, "0123456789abcdef") == ""
}

// ClipsDoc is GET /v1/clips.
type ClipsDoc = wire.ClipsPage

// CardsDoc is GET /v1/cards.
type CardsDoc = wire.CardsPage

// ClipsHandler serves GET /v1/clips and /v1/clips/{id}, and GET /v1/cards
// (the card records; vols, the configured volumes, let it tell a verified
// copy that is gone since: the card is then not safe to format).
func ClipsHandler(cat *catalog.Catalog, vols ...Volume) http.Handler {
	roots := map[string]string{}
	for _, v := range vols {
		roots[v.Name] = v.Path
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/clips", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		after := q.Get("after")
		if after != "" && !ValidClipID(after) {
			api.WriteError(w, http.StatusBadRequest, "after must be a clip id (32 lowercase hex characters)", "after")
			return
		}
		// Like the feed and the assets: larger limits are clamped.
		limit, err := api.ParseLimit(q)
		if err != nil {
			api.WriteError(w, http.StatusBadRequest, err.Error(), "limit")
			return
		}
		doc := ClipsDoc{Clips: []ClipDoc{}}
		more := false
		err = cat.Clips(after, func(c storage.Clip) error {
			if len(doc.Clips) == limit {
				more = true
				return errStopList
			}
			doc.Clips = append(doc.Clips, c)
			return nil
		})
		if err != nil && !errors.Is(err, errStopList) {
			api.WriteError(w, http.StatusInternalServerError, err.Error(), "")
			return
		}
		if more {
			doc.Next = doc.Clips[len(doc.Clips)-1].ID
		}
		api.WriteJSON(w, http.StatusOK, doc)
	})
	mux.HandleFunc("GET /v1/clips/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !ValidClipID(id) {
			api.WriteError(w, http.StatusBadRequest, "id must be 32 lowercase hex characters", "id")
			return
		}
		c, err := cat.Clip(id)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			api.WriteError(w, http.StatusNotFound, "no clip "+id, "id")
		case err != nil:
			api.WriteError(w, http.StatusInternalServerError, err.Error(), "")
		default:
			api.WriteJSON(w, http.StatusOK, c)
		}
	})
	// One lstat per copy at a time, whatever the requests (flight).
	var copies flight[bool]
	mux.HandleFunc("GET /v1/cards", func(w http.ResponseWriter, r *http.Request) {
		doc := CardsDoc{Cards: []Record{}}
		err := cat.Cards(func(rec storage.Card) error {
			rec.ID = CardID(rec.Key)
			doc.Cards = append(doc.Cards, rec)
			return nil
		})
		if err != nil {
			api.WriteError(w, http.StatusInternalServerError, err.Error(), "")
			return
		}
		found := lookForCopies(&copies, roots, doc.Cards, time.Now().Add(CopyCheckTimeout))
		for ci := range doc.Cards {
			rec := &doc.Cards[ci]
			// Safe only while every verified copy is still there: one
			// deleted or moved since is pending again (the card, when
			// inserted, is copied to it again); one on a volume that does
			// not answer cannot be vouched for now.
			for i, d := range rec.Destinations {
				probe, ok := copyProbe(roots, d)
				if !ok {
					continue
				}
				r := found[probe]
				gone, answered := r.gone, r.answered
				switch {
				case !answered:
					rec.SafeToFormat = false
					rec.Destinations[i].Error = "verified copy cannot be checked: " + notResponding + "volume " + d.Volume + " did not answer"
				case gone:
					rec.SafeToFormat = false
					rec.Destinations[i].State, rec.Destinations[i].Error = cards.DestPending, "verified copy gone (missing "+probe+")"
				}
			}
		}
		sort.Slice(doc.Cards, func(i, j int) bool { return doc.Cards[i].Started.Before(doc.Cards[j].Started) })
		api.WriteJSON(w, http.StatusOK, doc)
	})
	return mux
}

var errStopList = errors.New("stop")

// copyFound is what lookForCopies found of one verified copy.
type copyFound struct{ gone, answered bool }

// lookForCopies looks for the verified copies of recs (copyProbe) until
// deadline: each volume's one after the other, the volumes at once, so a
// volume that does not answer costs the others nothing; once one of its
// copies went unanswered, the rest of that volume is not tried (at most one
// check blocks per volume). Keyed by probe path.
func lookForCopies(copies *flight[bool], roots map[string]string, recs []storage.Card, deadline time.Time) map[string]copyFound {
	byVol := map[string][]string{}
	seen := map[string]bool{}
	for _, rec := range recs {
		for _, d := range rec.Destinations {
			if probe, ok := copyProbe(roots, d); ok && !seen[probe] {
				seen[probe] = true
				byVol[d.Volume] = append(byVol[d.Volume], probe)
			}
		}
	}
	out := make(map[string]copyFound, len(seen))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, probes := range byVol {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hung := false
			for _, probe := range probes {
				var f copyFound
				if !hung {
					f.gone, f.answered = copies.do(probe, deadline, func() bool {
						_, err := os.Lstat(probe)
						return err != nil
					})
					hung = !f.answered
				}
				mu.Lock()
				out[probe] = f
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// CopyCheckTimeout bounds how long GET /v1/cards waits, in all, for the
// verified copies it looks for: a copy on a volume whose mount does not
// answer (a hung NFS or SMB share) is reported as not checked, and the
// card as not safe, instead of holding the request.
const CopyCheckTimeout = 2 * time.Second
