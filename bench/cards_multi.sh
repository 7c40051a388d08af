#!/usr/bin/env bash
# Card offload to two destinations: ingestd reads the card once and writes
# both copies in parallel (xxh128 while reading, fsync, re-read of each
# copy, an ASC MHL per destination: what the card needs to be safe to
# format; the BLAKE3 content ids are filled in after that, by the daemon,
# mostly from the ingest's own hash of the copy, and are not timed here)
# next to the reference tools doing the same work side by side on the same
# data:
#   cp -r card A & cp -r card B (in parallel) + sync, then
#   xxhsum -H128 A & xxhsum -H128 B (in parallel, the re-read of both).
# Prints, best and median of CARDS_BENCH_RUNS (default 3) runs on either
# side (run in pairs, one side then the other, which goes first
# alternating), and the load average before each case (on a shared machine
# the figures move with it):
#   MB/s (card bytes per wall second) for both and the ratio (goal >= 1.0);
#   CPU seconds (user + system, all threads/processes) per card GB for both
#   and the ratio reference/ingestd (>= 1.0: ingestd does the work in less
#   CPU; on a shared machine this is steadier than wall time);
#   what the content ids cost after that (BLAKE3 of one copy read again, as
#   the daemon does when the ingest has not hashed the copy yet), apart.
# Data lives on tmpfs when we are root, else in a temp dir.
# With the card on a disk (root: an ext4 loop image) it also prints how many
# times each card byte was read from the card's device on either side, as
# the kernel counts it (/sys/block/loopN/stat, sectors read).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${CARDS_BENCH_MB:-256}
RUNS=${CARDS_BENCH_RUNS:-3}
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
# CARDS_BENCH_TEST: a cards test binary built elsewhere (an A/B of two
# builds on the same data); by default the working tree's is built.
if [ -n "${CARDS_BENCH_TEST:-}" ]; then
  cp "$CARDS_BENCH_TEST" "$work/bin/cards.test"
else
  go test -c -o "$work/bin/cards.test" ./daemon/cards/
fi

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

# summarize: reads "MB/s cpu-s/GB" lines, one per run; prints the best
# MB/s, the lowest cpu-s/GB, the median MB/s and the median cpu-s/GB.
summarize() {
  awk '{ mb[NR] = $1; cpu[NR] = $2 }
    function med(a, n,   i, j, t) {
      for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
      return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END { n = NR; if (n == 0) exit 1; m1 = med(mb, n); c1 = med(cpu, n); print mb[n], cpu[1], m1, c1 }'
}

# one CARD [env...]: one run of BenchmarkOffloadMulti; prints "MB/s cpu-s/GB
# ids-s/GB ids-cpu-s/GB".
one() {
  local card=$1
  shift
  (cd daemon/cards && env "$@" INGESTD_BENCH_CARD="$card" INGESTD_BENCH_DST="$work/dst" \
    "$work/bin/cards.test" -test.run '^$' -test.bench 'BenchmarkOffloadMulti$' -test.benchtime 1x -test.count 1) |
    awk '/MB\/s/ { for (i = 1; i <= NF; i++) { if ($(i+1) == "MB/s") mb = $i; if ($(i+1) == "cpu-s/GB") cpu = $i
      if ($(i+1) == "ids-s/GB") ids = $i; if ($(i+1) == "ids-cpu-s/GB") idscpu = $i }; print mb, cpu, ids, idscpu }'
}

# noreads: no card device to count reads on (sectors() when there is one).
noreads() { echo 0; }

# side CARD PRE SECTORS [env...]: RUNS pairs of runs side by side, the
# reference and ingestd in turn, which of them goes first alternating (the
# load on a shared machine moves; neither side always meets it first). PRE
# runs before each reference run (ingestd's benchmark drops the card's
# pages itself when told to). Leaves "MB/s cpu-s/GB" lines in
# $work/ref.txt and $work/ours.txt, and the card device's sectors read by
# either side in $work/ref.sec and $work/ours.sec.
side() {
  local card=$1 pre=$2 sectors=$3
  shift 3
  : > "$work/ref.txt"
  : > "$work/ours.txt"
  local rs=0 os=0 s0 i
  for i in $(seq 1 "$RUNS"); do
    for who in ref ours; do
      if [ $((i % 2)) = 0 ]; then who=$([ "$who" = ref ] && echo ours || echo ref); fi
      s0=$($sectors)
      if [ "$who" = ref ]; then
        $pre
        ref "$card" >> "$work/ref.txt"
        echo >> "$work/ref.txt"
        rs=$((rs + $($sectors) - s0))
      else
        one "$card" "$@" >> "$work/ours.txt"
        os=$((os + $($sectors) - s0))
      fi
    done
  done
  echo "$rs" > "$work/ref.sec"
  echo "$os" > "$work/ours.sec"
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# ids: the median content id cost of ingestd's runs in $work/ours.txt.
ids() {
  awk '{ s[NR] = $3; c[NR] = $4 }
    function med(a, n,   i, j, t) {
      for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
      return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END { if (NR) printf "  then, after safe to format, content ids (BLAKE3 of one copy read again, where the ingest has not hashed it): %.2f s wall, %.2f s CPU per card GB [median]\n", med(s, NR), med(c, NR) }' "$work/ours.txt"
}

# report WHAT OURS REF LOAD: best of RUNS (medians in brackets).
report() {
  local what=$1 o=$2 r=$3 load=$4
  awk -v w="$what" -v mb="$SIZE_MB" -v o="$o" -v r="$r" -v l="$load" -v n="$RUNS" 'BEGIN {
    split(o, a, " "); split(r, b, " ")
    printf "cards offload to 2 destinations %d MiB%s (best of %d, [median]; load average %s):\n", mb, w, n, l
    printf "  ingestd %.1f MB/s [%.1f], cp to both + xxhsum -H128 of both %.1f MB/s [%.1f], ratio %.2f [%.2f]\n", a[1], a[3], b[1], b[3], a[1] / b[1], a[3] / b[3]
    printf "  CPU per card GB: ingestd %.2f s [%.2f], reference %.2f s [%.2f], ratio (reference/ingestd) %.2f [%.2f]\n", a[2], a[4], b[2], b[4], b[2] / a[2], b[4] / a[4] }'
}

load=$(loadavg)
side "$work/card" true noreads
report "" "$(summarize < "$work/ours.txt")" "$(summarize < "$work/ref.txt")" "$load"
ids

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
  load=$(loadavg)
  side "$disk/card" evict sectors INGESTD_BENCH_EVICT=1
  refreads=$(awk -v s="$(cat "$work/ref.sec")" -v b="$bytes" -v n="$RUNS" 'BEGIN { printf "%.2f", s * 512 / n / b }')
  ourreads=$(awk -v s="$(cat "$work/ours.sec")" -v b="$bytes" -v n="$RUNS" 'BEGIN { printf "%.2f", s * 512 / n / b }')
  report ", card on disk (direct-io loop, cache dropped)" "$(summarize < "$work/ours.txt")" "$(summarize < "$work/ref.txt")" "$load"
  ids
  echo "  card bytes read from the card's device per card byte: ingestd ${ourreads}, cp to both ${refreads}"
fi
