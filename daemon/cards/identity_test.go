package cards

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/internal/testutil"
)

func TestParseMountinfo(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mountinfo")
	os.WriteFile(p, []byte(`22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw
41 22 7:0 / /media/user/EOS\040DIGITAL rw,nosuid,nodev,relatime shared:200 - vfat /dev/sdb1 rw,uid=1000
42 22 0:50 / /mnt/cards/tmp rw,relatime - tmpfs tmpfs rw,size=1024k
`), 0o644)
	ms, err := ParseMountinfo(p)
	if err != nil || len(ms) != 3 {
		t.Fatalf("%v %+v", err, ms)
	}
	m, ok := MountFor(ms, "/media/user/EOS DIGITAL/DCIM")
	if !ok || m.MountPoint != "/media/user/EOS DIGITAL" || m.Source != "/dev/sdb1" || m.FSType != "vfat" || m.Major != 7 || m.Minor != 0 {
		t.Fatalf("MountFor = %+v", m)
	}
	if m, _ := MountFor(ms, "/mnt/cards/tmpfoo"); m.MountPoint != "/" {
		t.Fatalf("prefix without a slash matched %s", m.MountPoint)
	}
}

// An ext4 card is identified by its filesystem UUID and label (through
// /dev/disk links when udev made them, else blkid), and keeps its identity
// across re-insertion; new footage changes the fingerprint.
func TestIdentifyExt4Card(t *testing.T) {
	card := newExt4Card(t, "16M", "EOS_DIGITAL")
	writeTree(t, card.Dir, cardTrees(t)[LayoutCanonCinema])
	testenv.Need(t, "blkid")
	id, err := Identify(card.Dir, IdentifyOptions{DiskDir: filepath.Join(t.TempDir(), "no-udev")})
	if err != nil {
		t.Fatal(err)
	}
	if id.Label != "EOS_DIGITAL" || len(id.UUID) != 36 || !strings.HasPrefix(id.Device, "/dev/loop") || id.FSType != "ext4" ||
		id.Layout != LayoutCanonCinema || len(id.Fingerprint) != 32 || id.DisplayLabel() != "EOS_DIGITAL" {
		t.Fatalf("identity %+v", id)
	}

	// udev-style links, blkid disabled.
	disk := t.TempDir()
	os.MkdirAll(filepath.Join(disk, "by-uuid"), 0o755)
	os.MkdirAll(filepath.Join(disk, "by-label"), 0o755)
	os.Symlink(id.Device, filepath.Join(disk, "by-uuid", id.UUID))
	os.Symlink(id.Device, filepath.Join(disk, "by-label", `EOS\x20DIGITAL`))
	os.Symlink("/dev/null", filepath.Join(disk, "by-label", "OTHER"))
	id2, err := Identify(card.Dir, IdentifyOptions{DiskDir: disk, Blkid: "-"})
	if err != nil || id2.UUID != id.UUID || id2.Label != "EOS DIGITAL" {
		t.Fatalf("udev identity %+v %v", id2, err)
	}

	card.Pull()
	card.Insert()
	again, err := Identify(card.Dir, IdentifyOptions{DiskDir: disk})
	if err != nil || again.Key() != id.Key() {
		t.Fatalf("re-inserted card: %+v, was %+v (%v)", again, id, err)
	}
	writeTree(t, card.Dir, map[string]string{"CONTENTS/CLIPS001/A001C002_260201AB.MXF": "rand:100"})
	changed, _ := Identify(card.Dir, IdentifyOptions{DiskDir: disk})
	if changed.UUID != id.UUID || changed.Fingerprint == id.Fingerprint || changed.Key() == id.Key() {
		t.Fatalf("new footage, same key: %+v", changed)
	}
}

// A filesystem without a UUID (tmpfs here) is identified by content.
func TestIdentifyByFingerprint(t *testing.T) {
	dir := testutil.MountTmpfs(t, "8m")
	writeTree(t, dir, cardTrees(t)[LayoutGoPro])
	id, err := Identify(dir, IdentifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if id.UUID != "" || id.FSType != "tmpfs" || !strings.HasPrefix(id.Key(), "fp:") || !strings.HasPrefix(id.DisplayLabel(), "card-") {
		t.Fatalf("identity %+v", id)
	}
	// Things an OS or a previous offload add do not change it.
	writeTree(t, dir, map[string]string{".Spotlight-V100/x": "x", ".DS_Store": "x"})
	if again, _ := Identify(dir, IdentifyOptions{}); again.Fingerprint != id.Fingerprint {
		t.Fatal("hidden files changed the fingerprint")
	}
	for _, change := range []map[string]string{
		{"DCIM/100GOPRO/GX010009.MP4": "rand:10"},  // a new file
		{"DCIM/100GOPRO/GX010002.MP4": "rand:999"}, // a different size
	} {
		writeTree(t, dir, change)
		fp, err := Fingerprint(dir, LayoutGoPro, 0)
		if err != nil || fp == id.Fingerprint {
			t.Fatalf("fingerprint unchanged after %v", change)
		}
		id.Fingerprint = fp
	}
}
