package ingest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

// TestHelperPipelineProcess is not a test: TestKill9Restart runs the test
// binary with it as a child process that ingests until it is killed.
func TestHelperPipelineProcess(t *testing.T) {
	root, state := os.Getenv("INGEST_HELPER_ROOT"), os.Getenv("INGEST_HELPER_STATE")
	if root == "" {
		t.Skip("helper process only")
	}
	cat, err := catalog.Open(state, catalog.Options{Logger: testutil.Logger(t)}) // synced writes, as in production
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	p, _ := New(Config{Volumes: []Volume{{"v", root}}, Settle: 50 * time.Millisecond, Rescan: time.Hour, HashWorkers: 1}, cat, testutil.Logger(t))
	go p.Run(context.Background())
	for {
		// Published events are durable: the kill comes after some files
		// are cataloged for good, not merely hashed (hashed files wait
		// for a batch's commit and sync).
		fmt.Println("published", cat.LastSeq())
		time.Sleep(5 * time.Millisecond)
	}
}

// kill -9 in the middle of an ingest, then start again: every file is
// cataloged exactly once (one location.added per path, one
// asset.cataloged per content), nothing is lost.
func TestKill9Restart(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	const n = 300
	for i := 0; i < n; i++ {
		testutil.WriteFile(t, filepath.Join(root, fmt.Sprintf("d%d/clip%03d.mov", i%7, i)), strings.Repeat(fmt.Sprintf("clip %d ", i), 2000))
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPipelineProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "INGEST_HELPER_ROOT="+root, "INGEST_HELPER_STATE="+state)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		var k int
		if _, err := fmt.Sscanf(sc.Text(), "published %d", &k); err == nil && k >= 40 {
			cmd.Process.Kill() // SIGKILL
			killed = true
			break
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatal("helper process ended before it was killed")
	}

	h := start(t, state, Config{Volumes: []Volume{{"v", root}}})
	testutil.WaitFor(t, waitLong, "all files cataloged", func() bool { return h.volStatus("v").Files == n })
	h.idle()
	hashed := h.p.Status().FilesHashed
	t.Logf("after the kill: %d of %d files left to hash", hashed, n)
	if hashed >= n || hashed == 0 {
		t.Errorf("restart hashed %d of %d files: want only those not cataloged before the kill", hashed, n)
	}
	added, cataloged := map[string]int{}, map[string]int{}
	for _, e := range h.events() {
		switch e.Type {
		case storage.EvLocationAdded:
			added[e.Path]++
		case storage.EvAssetCataloged:
			cataloged[e.AssetID]++
		case storage.EvLocationChanged, storage.EvLocationRemoved:
			t.Errorf("unexpected %s %s", e.Type, e.Path)
		}
	}
	if len(added) != n || len(cataloged) != n {
		t.Errorf("%d paths added, %d assets cataloged, want %d each", len(added), len(cataloged), n)
	}
	for p, c := range added {
		if c != 1 {
			t.Errorf("%s added %d times", p, c)
		}
	}
	for id, c := range cataloged {
		if c != 1 {
			t.Errorf("asset %s cataloged %d times", id, c)
		}
	}
}
