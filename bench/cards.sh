#!/usr/bin/env bash
# Card offload throughput: ingestd's verified offload (read + xxh128 in one
# pass, write, fsync, re-read + compare, then BLAKE3 content ids read from
# the copy, as the daemon computes them after the card pass) next to the
# same work done by reference tools run side by side on the same data:
#   cp -r + sync, then xxhsum -H128 and b3sum --num-threads 1 on the card,
#   then xxhsum -H128 -c on the copy (the re-read).
# Prints MB/s for both and the ratio. Data lives on tmpfs when we are root
# (so disk speed does not dominate), else in a temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${CARDS_BENCH_MB:-256}
work=$(mktemp -d)
cleanup() { umount "$work" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
if [ "$(id -u)" = 0 ]; then mount -t tmpfs -o size=$((SIZE_MB * 3 + 64))m tmpfs "$work"; fi
mkdir -p "$work/card/CLIP" "$work/dst"
for i in $(seq 1 8); do
  head -c $((SIZE_MB / 8))M /dev/urandom > "$work/card/CLIP/C000$i.MP4"
done
bytes=$(du -sb "$work/card" | cut -f1)

ref() {
  local t0 t1
  t0=$(date +%s.%N)
  cp -r "$work/card" "$work/dst/ref" && sync
  (cd "$work/card" && xxhsum -H128 CLIP/* > "$work/ref.xxh" && b3sum --num-threads 1 CLIP/* > /dev/null)
  (cd "$work/dst/ref" && xxhsum -H128 -c "$work/ref.xxh" > /dev/null)
  t1=$(date +%s.%N)
  rm -rf "$work/dst/ref"
  echo "$t0 $t1" | awk -v b="$bytes" '{ printf "%.1f", b / ($2 - $1) / 1e6 }'
}
for t in xxhsum b3sum; do command -v $t >/dev/null || { echo "cards bench: $t missing"; exit 1; }; done
ref_mbs=$(ref)
ours=$(INGESTD_BENCH_CARD="$work/card" INGESTD_BENCH_DST="$work/dst" \
  go test -run '^$' -bench 'BenchmarkOffload/xxh128$' -benchtime 3x ./daemon/cards/ | awk '/MB\/s/ { for (i = 1; i <= NF; i++) if ($(i+1) == "MB/s") print $i }')
echo "cards offload ${SIZE_MB} MiB: ingestd ${ours} MB/s, cp+xxhsum+b3sum+xxhsum -c ${ref_mbs} MB/s, ratio $(awk -v a="$ours" -v b="$ref_mbs" 'BEGIN { printf "%.2f", a / b }')"
