package cardsvc

import (
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A safe card whose eject fails (a shell in one of its folders) says who
// holds it and is tried again at each look until it is unmounted (a
// trial saw the card left mounted for good after one busy eject).
func TestEjectRetried(t *testing.T) {
	mp := t.TempDir()
	holder := exec.Command("sleep", "60")
	holder.Dir = mp
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	want := "sleep[" + strconv.Itoa(holder.Process.Pid) + "]"
	if h := busyHolders("/proc", mp, 3); len(h) != 1 || h[0] != want {
		t.Errorf("holders of %s: %v, want [%s]", mp, h, want)
	}
	if h := busyHolders("/proc", t.TempDir(), 3); len(h) != 0 {
		t.Errorf("holders of a folder nobody uses: %v", h)
	}

	busy := 2 // unmount fails this many times, then succeeds
	calls := 0
	s := &Service{log: slogDiscard(), present: map[string]*present{}, unmount: func(string) error {
		calls++
		if busy > 0 {
			busy--
			return syscall.EBUSY
		}
		return nil
	}}
	const safe = "offloaded: safe to eject, SAFE TO FORMAT (1 destination verified)"
	s.present[mp] = &present{st: CardStatus{Mount: mp, SafeToFormat: true, State: StateOffloaded}}
	ejected, why := s.tryEject(mp)
	if ejected || !strings.Contains(why, "not ejected: "+mp+": device or resource busy (in use by "+want+")") {
		t.Fatalf("first eject: ejected %v, %q", ejected, why)
	}
	s.update(mp, func(c *CardStatus) { c.Message = safe + "; " + why })
	shown := func() string { return s.Status().Cards[0].Message }

	s.retryEject() // still busy
	if calls != 2 || !strings.HasPrefix(shown(), safe+"; not ejected: ") || strings.Count(shown(), "not ejected") != 1 {
		t.Fatalf("after a retry still busy (%d unmounts): %q", calls, shown())
	}
	s.retryEject()
	if calls != 3 || shown() != safe+"; ejected" {
		t.Fatalf("after the retry that ejects (%d unmounts): %q", calls, shown())
	}
	s.retryEject() // nothing left to do
	if calls != 3 {
		t.Fatalf("ejected card unmounted again (%d unmounts)", calls)
	}
}
