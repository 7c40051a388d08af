package cardsvc

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// tryEject unmounts the safe card at mp (cards.eject_when_safe). When it
// cannot (busy: a shell or a player has a folder or a file of it open),
// why says so, naming who holds it, and the card is marked for another
// try at each look at it (vouch.go) until it is unmounted or pulled.
func (s *Service) tryEject(mp string) (ejected bool, why string) {
	log := s.log.With("mount", mp)
	err := s.unmount(mp)
	if err == nil {
		log.Info("card ejected (safe to format)")
	} else {
		why = fmt.Sprintf("not ejected: %s: %v", mp, err)
		if h := busyHolders("/proc", mp, 3); len(h) > 0 {
			why += " (in use by " + strings.Join(h, ", ") + ")"
		}
		why += ", tried again every few seconds; or unmount it by hand"
		log.Warn("eject card failed: it is safe to format; tried again", "err", err)
	}
	s.mu.Lock()
	if p, ok := s.present[mp]; ok {
		p.ejectPending, p.ejectWhy = err != nil, why
	}
	s.mu.Unlock()
	return err == nil, why
}

// retryEject tries again to eject each card shown safe whose eject failed
// (vouch.go); its message says why while it still fails, "ejected" once
// it is.
func (s *Service) retryEject() {
	s.mu.Lock()
	was := map[string]string{}
	for mp, p := range s.present {
		if p.ejectPending && p.st.SafeToFormat {
			was[mp] = p.ejectWhy
		}
	}
	s.mu.Unlock()
	for mp, old := range was {
		ejected, why := s.tryEject(mp)
		now := why
		if ejected {
			now = "ejected"
		}
		s.update(mp, func(c *CardStatus) {
			if old != "" && strings.Contains(c.Message, "; "+old) {
				c.Message = strings.Replace(c.Message, "; "+old, "; "+now, 1)
			}
		})
	}
}

// maxHolderLinks bounds the links busyHolders reads (every open file of
// every process, on a busy box).
const maxHolderLinks = 200_000

// busyHolders names up to max processes ("comm[pid]") whose working
// directory, root or an open file is at or under mp, from the proc
// filesystem at proc: who keeps a card from being unmounted.
func busyHolders(proc, mp string, max int) []string {
	mp = filepath.Clean(mp)
	under := func(p string) bool { return p == mp || strings.HasPrefix(p, mp+"/") }
	ents, err := os.ReadDir(proc)
	if err != nil {
		return nil
	}
	self := strconv.Itoa(os.Getpid())
	var out []string
	links := 0
	for _, e := range ents {
		pid := e.Name()
		if _, err := strconv.Atoi(pid); err != nil || pid == self {
			continue
		}
		dir := filepath.Join(proc, pid)
		holds := false
		for _, l := range []string{"cwd", "root"} {
			if t, err := os.Readlink(filepath.Join(dir, l)); err == nil && under(t) {
				holds = true
			}
		}
		if !holds {
			fds, _ := os.ReadDir(filepath.Join(dir, "fd"))
			for _, fd := range fds {
				if links++; links > maxHolderLinks {
					break
				}
				if t, err := os.Readlink(filepath.Join(dir, "fd", fd.Name())); err == nil && under(t) {
					holds = true
					break
				}
			}
		}
		if holds {
			comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
			name := strings.TrimSpace(string(comm))
			if len(name) > 32 || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
				name = strconv.Quote(name) // a process names itself: shown, never trusted
			}
			out = append(out, name+"["+pid+"]")
			if len(out) == max {
				break
			}
		}
		if links > maxHolderLinks {
			break
		}
	}
	return out
}
