#!/usr/bin/env bash
# Card offload to two destinations: ingestd reads the card once and writes
# both copies in parallel (xxh128 + BLAKE3 while reading, fsync, re-read of
# each copy, an ASC MHL per destination) next to the reference tools doing
# the same work side by side on the same data:
#   cp -r card A & cp -r card B (in parallel) + sync, then
#   xxhsum -H128 A & xxhsum -H128 B (in parallel, the re-read of both).
# Prints MB/s (card bytes per second) for both and the ratio (goal >= 1.0).
# Data lives on tmpfs when we are root, else in a temp dir.
# With the card on a disk (root: an ext4 loop image) it also prints how many
# times each card byte was read from the card's device on either side, as
# the kernel counts it (/sys/block/loopN/stat, sectors read).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${CARDS_BENCH_MB:-256}
work=$(mktemp -d)
cleanup() { umount "$work" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
if [ "$(id -u)" = 0 ]; then mount -t tmpfs -o size=$((SIZE_MB * 4 + 64))m tmpfs "$work"; fi
mkdir -p "$work/card/CLIP" "$work/dst"
for i in $(seq 1 8); do
  head -c $((SIZE_MB / 8))M /dev/urandom > "$work/card/CLIP/C000$i.MP4"
done
bytes=$(du -sb "$work/card" | cut -f1)
command -v xxhsum >/dev/null || { echo "cards multi bench: xxhsum missing"; exit 1; }

ref() {
  local t0 t1
  t0=$(date +%s.%N)
  cp -r "$work/card" "$work/dst/a" & cp -r "$work/card" "$work/dst/b" & wait
  sync
  (cd "$work/dst/a" && xxhsum -H128 CLIP/* > /dev/null) & (cd "$work/dst/b" && xxhsum -H128 CLIP/* > /dev/null) & wait
  t1=$(date +%s.%N)
  rm -rf "$work/dst/a" "$work/dst/b"
  echo "$t0 $t1" | awk -v b="$bytes" '{ printf "%.1f", b / ($2 - $1) / 1e6 }'
}
# best of 3 runs on either side (the machine may be shared)
best=0
for _ in 1 2 3; do
  r=$(ref)
  best=$(awk -v a="$r" -v b="$best" 'BEGIN { print (a > b) ? a : b }')
done
ours=$(INGESTD_BENCH_CARD="$work/card" INGESTD_BENCH_DST="$work/dst" \
  go test -run '^$' -bench 'BenchmarkOffloadMulti$' -benchtime 1x -count 3 ./daemon/cards/ | awk '/MB\/s/ { for (i = 1; i <= NF; i++) if ($(i+1) == "MB/s" && $i + 0 > best + 0) best = $i } END { print best }')
echo "cards offload to 2 destinations ${SIZE_MB} MiB: ingestd ${ours} MB/s, cp to both + xxhsum -H128 of both ${best} MB/s, ratio $(awk -v a="$ours" -v b="$best" 'BEGIN { printf "%.2f", a / b }')"

# The same with the card on a disk: an ext4 image on a direct-io loop
# device (no second page cache), the card files' pages dropped before each
# run of either side, so the card is read from the disk as from a reader.
if [ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null && command -v losetup >/dev/null; then
  disk=$(mktemp -d /var/tmp/ingestd-bench.XXXXXX)
  img="$disk/card.img"
  truncate -s $((SIZE_MB + 96))M "$img"
  mkfs.ext4 -q -L BENCH "$img"
  dev=$(losetup --direct-io=on -f --show "$img")
  mkdir -p "$disk/card"
  mount "$dev" "$disk/card"
  cleanup() { umount "$disk/card" 2>/dev/null || true; losetup -d "$dev" 2>/dev/null || true; rm -rf "$disk"; umount "$work" 2>/dev/null || true; rm -rf "$work"; }
  cp -r "$work/card/CLIP" "$disk/card/" && sync
  evict() { python3 -c 'import os,sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$disk"/card/CLIP/*; }
  sectors() { awk '{ print $3 }' "/sys/block/$(basename "$dev")/stat"; }
  refreads=0
  refd() {
    local t0 t1 s0
    evict
    s0=$(sectors)
    t0=$(date +%s.%N)
    cp -r "$disk/card" "$work/dst/a" & cp -r "$disk/card" "$work/dst/b" & wait
    sync
    (cd "$work/dst/a" && xxhsum -H128 CLIP/* > /dev/null) & (cd "$work/dst/b" && xxhsum -H128 CLIP/* > /dev/null) & wait
    t1=$(date +%s.%N)
    echo $(( $(sectors) - s0 )) >> "$work/refsectors"
    rm -rf "$work/dst/a" "$work/dst/b"
    echo "$t0 $t1" | awk -v b="$bytes" '{ printf "%.1f", b / ($2 - $1) / 1e6 }'
  }
  best=0
  for _ in 1 2 3; do
    r=$(refd)
    best=$(awk -v a="$r" -v b="$best" 'BEGIN { print (a > b) ? a : b }')
  done
  refreads=$(awk -v b="$bytes" '{ s += $1; n++ } END { printf "%.2f", s * 512 / n / b }' "$work/refsectors")
  go test -c -o "$work/cards.test" ./daemon/cards/
  s0=$(sectors)
  ours=$(cd daemon/cards && INGESTD_BENCH_EVICT=1 INGESTD_BENCH_CARD="$disk/card" INGESTD_BENCH_DST="$work/dst" \
    "$work/cards.test" -test.run '^$' -test.bench 'BenchmarkOffloadMulti$' -test.benchtime 1x -test.count 3 | awk '/MB\/s/ { for (i = 1; i <= NF; i++) if ($(i+1) == "MB/s" && $i + 0 > best + 0) best = $i } END { print best }')
  ourreads=$(awk -v s="$(( $(sectors) - s0 ))" -v b="$bytes" 'BEGIN { printf "%.2f", s * 512 / 3 / b }')
  echo "cards offload to 2 destinations ${SIZE_MB} MiB, card on disk (direct-io loop, cache dropped): ingestd ${ours} MB/s, cp to both + xxhsum -H128 of both ${best} MB/s, ratio $(awk -v a="$ours" -v b="$best" 'BEGIN { printf "%.2f", a / b }')"
  echo "card bytes read from the card's device per card byte: ingestd ${ourreads}, cp to both ${refreads}"
fi
