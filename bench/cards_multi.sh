#!/usr/bin/env bash
# Card offload to two destinations: ingestd reads the card once and writes
# both copies in parallel (xxh128 + BLAKE3 while reading, fsync, re-read of
# each copy, an ASC MHL per destination) next to the reference tools doing
# the same work side by side on the same data:
#   cp -r card A & cp -r card B (in parallel) + sync, then
#   xxhsum -H128 A & xxhsum -H128 B (in parallel, the re-read of both).
# Prints, best of 3 runs on either side:
#   MB/s (card bytes per wall second) for both and the ratio (goal >= 1.0);
#   CPU seconds (user + system, all threads/processes) per card GB for both
#   and the ratio reference/ingestd (>= 1.0: ingestd does the work in less
#   CPU; on a shared machine this is steadier than wall time).
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
if [ "$(id -u)" = 0 ]; then mount -t tmpfs -o size=$((SIZE_MB * 4 + 96))m tmpfs "$work"; fi
mkdir -p "$work/card/CLIP" "$work/dst" "$work/bin"
for i in $(seq 1 8); do
  head -c $((SIZE_MB / 8))M /dev/urandom > "$work/card/CLIP/C000$i.MP4"
done
bytes=$(du -sb "$work/card" | cut -f1)
command -v xxhsum >/dev/null || { echo "cards multi bench: xxhsum missing"; exit 1; }
go test -c -o "$work/bin/cards.test" ./daemon/cards/

# ref CARD: one reference run from CARD; prints "MB/s cpu-s/GB" (CPU of
# every process it ran, from the shell's `times`).
ref() {
  local card=$1
  local t0 t1 cpu
  t0=$(date +%s.%N)
  # `times` itself (not in a pipeline: a forked shell has no children)
  # prints the children's user and system time on its second line.
  cpu=$(
    cp -r "$card" "$work/dst/a" & cp -r "$card" "$work/dst/b" & wait
    sync
    (cd "$work/dst/a" && xxhsum -H128 CLIP/* > /dev/null) & (cd "$work/dst/b" && xxhsum -H128 CLIP/* > /dev/null) & wait
    times
  )
  cpu=$(echo "$cpu" | tail -1 | awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }')
  t1=$(date +%s.%N)
  rm -rf "$work/dst/a" "$work/dst/b"
  awk -v t0="$t0" -v t1="$t1" -v c="$cpu" -v b="$bytes" 'BEGIN { printf "%.1f %.3f", b / (t1 - t0) / 1e6, c / (b / 1e9) }'
}

# refbest CARD [before-each-run]: best MB/s and lowest cpu-s/GB of 3 runs.
refbest() {
  local card=$1 pre=${2:-true} best=0 cpu=1e9 r
  for _ in 1 2 3; do
    $pre
    r=$(ref "$card")
    best=$(awk -v a="${r% *}" -v b="$best" 'BEGIN { print (a > b) ? a : b }')
    cpu=$(awk -v a="${r#* }" -v b="$cpu" 'BEGIN { print (a < b) ? a : b }')
  done
  echo "$best $cpu"
}

# ours CARD [env...]: best MB/s and lowest cpu-s/GB of 3 runs of
# BenchmarkOffloadMulti.
ours() {
  local card=$1
  shift
  (cd daemon/cards && env "$@" INGESTD_BENCH_CARD="$card" INGESTD_BENCH_DST="$work/dst" \
    "$work/bin/cards.test" -test.run '^$' -test.bench 'BenchmarkOffloadMulti$' -test.benchtime 1x -test.count 3) |
    awk '/MB\/s/ { for (i = 1; i <= NF; i++) { if ($(i+1) == "MB/s" && $i + 0 > best + 0) best = $i; if ($(i+1) == "cpu-s/GB" && (cpu == "" || $i + 0 < cpu + 0)) cpu = $i } }
      END { print best, cpu }'
}

report() {
  local what=$1 o=$2 r=$3
  awk -v w="$what" -v mb="$SIZE_MB" -v o="$o" -v r="$r" 'BEGIN {
    split(o, a, " "); split(r, b, " ")
    printf "cards offload to 2 destinations %d MiB%s: ingestd %.1f MB/s, cp to both + xxhsum -H128 of both %.1f MB/s, ratio %.2f\n", mb, w, a[1], b[1], a[1] / b[1]
    printf "  CPU per card GB: ingestd %.2f s, reference %.2f s, ratio (reference/ingestd) %.2f\n", a[2], b[2], b[2] / a[2] }'
}

r=$(refbest "$work/card")
o=$(ours "$work/card")
report "" "$o" "$r"

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
  s0=$(sectors)
  r=$(refbest "$disk/card" evict)
  refreads=$(awk -v s="$(( $(sectors) - s0 ))" -v b="$bytes" 'BEGIN { printf "%.2f", s * 512 / 3 / b }')
  s0=$(sectors)
  o=$(ours "$disk/card" INGESTD_BENCH_EVICT=1)
  ourreads=$(awk -v s="$(( $(sectors) - s0 ))" -v b="$bytes" 'BEGIN { printf "%.2f", s * 512 / 3 / b }')
  report ", card on disk (direct-io loop, cache dropped)" "$o" "$r"
  echo "  card bytes read from the card's device per card byte: ingestd ${ourreads}, cp to both ${refreads}"
fi
