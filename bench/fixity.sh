#!/usr/bin/env bash
# Fixity check throughput: ingestd's re-read of cataloged masters (stat,
# BLAKE3 with one core, compare with the catalog) next to b3sum
# --num-threads 1 over the same files. Both read from the page cache (the
# benchmark writes the files, then warms them), so this measures the CPU
# side; on a NAS the network sets the pace. Prints MB/s and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
cleanup() { umount "$work" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
if [ "$(id -u)" = 0 ]; then mount -t tmpfs -o size=400m tmpfs "$work"; fi
command -v b3sum >/dev/null || { echo "fixity bench: b3sum missing"; exit 1; }
ours=$(INGESTD_FIXITY_BENCH_DIR="$work" go test -run '^$' -bench 'BenchmarkFixityCheck$' -benchtime 5x ./daemon/cards/fixity/ |
  awk '/MB\/s/ { for (i = 1; i <= NF; i++) if ($(i+1) == "MB/s") print $i }')
bytes=$(du -sb "$work" | cut -f1)
b3sum --num-threads 1 "$work"/*.mov > /dev/null
t0=$(date +%s.%N)
for _ in 1 2 3; do b3sum --num-threads 1 --no-mmap "$work"/*.mov > /dev/null; done
t1=$(date +%s.%N)
ref=$(echo "$t0 $t1" | awk -v b="$bytes" '{ printf "%.1f", 3 * b / ($2 - $1) / 1e6 }')
echo "fixity $((bytes >> 20)) MiB: ingestd ${ours} MB/s, b3sum --num-threads 1 ${ref} MB/s, ratio $(awk -v a="$ours" -v b="$ref" 'BEGIN { printf "%.2f", a / b }')"
