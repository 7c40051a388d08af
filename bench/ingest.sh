#!/usr/bin/env bash
# bench/ingest.sh: ingest throughput next to reference tools run on the same
# data in the same run (called by `make bench`).
#   1. hashing: HashFile (BLAKE3-256 + xxh128, one read; BLAKE3 on a second
#      goroutine overlapping the read and xxh128) over HASH_FILES files
#      of HASH_MB MiB in tmpfs, warm, next to `b3sum --num-threads 1` and
#      `xxhsum -H128`; plus the bounded pool (HASH_WORKERS, default min(4, nproc)).
#   2. rescan: the pipeline's reconcile of an unchanged TREE_FILES-file tree
#      next to `find DIR -printf '%s %T@\n'`.
# Goals: hashing >= 1.0x single-thread b3sum; rescan >= 0.5x find.
# Env: BENCH_DIR (default: a new dir in /dev/shm), HASH_FILES=4, HASH_MB=512,
#      TREE_FILES=100000, TRIALS=3.
set -euo pipefail
cd "$(dirname "$0")/.."

HASH_FILES=${HASH_FILES:-4}
HASH_MB=${HASH_MB:-512}
TREE_FILES=${TREE_FILES:-100000}
TRIALS=${TRIALS:-3}
NPROC=$(nproc)
HASH_WORKERS=${HASH_WORKERS:-$(( NPROC < 4 ? NPROC : 4 ))}
base=${BENCH_DIR:-/dev/shm}
work=$(mktemp -d "$base/ingest-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

for tool in b3sum xxhsum find; do
	command -v "$tool" >/dev/null || { echo "ingest bench: $tool not installed (scripts/deps.sh installs it)"; exit 1; }
done
go build -o "$work/ingestbench" ./bench/ingest

now() { date +%s.%N; }
# best CMD...: best wall time of TRIALS runs of a command, in seconds.
best() {
	local b="" t0 t1 d
	for _ in $(seq "$TRIALS"); do
		t0=$(now); "$@" >/dev/null 2>&1; t1=$(now)
		d=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
		if [ -z "$b" ] || lt "$d" "$b"; then b=$d; fi
	done
	echo "$b"
}
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
mbs() { awk -v b="$1" -v t="$2" 'BEGIN { printf "%.1f", b / 1048576 / t }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "ingest bench on $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "-- hashing: $HASH_FILES x $HASH_MB MiB in $base (warm), best of $TRIALS"
files=()
for i in $(seq "$HASH_FILES"); do
	f="$work/h$i.bin"
	head -c "${HASH_MB}M" /dev/urandom >"$f"
	files+=("$f")
done
bytes=$(( HASH_FILES * HASH_MB * 1048576 ))
cat "${files[@]}" >/dev/null

# The machine may be shared: run the tools round-robin, TRIALS rounds, and
# keep each one's best time, so load changes hit all of them alike.
timeit() { local t0 t1; t0=$(now); "$@" >/dev/null 2>&1; t1=$(now); awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'; }
keep() { if [ -z "${!1}" ] || lt "$2" "${!1}"; then printf -v "$1" '%s' "$2"; fi; }
t_ours="" t_pool="" t_b3="" t_b3nm="" t_xxh=""
for _ in $(seq "$TRIALS"); do
	keep t_ours "$("$work/ingestbench" hash "${files[@]}" | awk '{print $2}')"
	keep t_b3 "$(timeit b3sum --num-threads 1 "${files[@]}")"
	keep t_b3nm "$(timeit b3sum --num-threads 1 --no-mmap "${files[@]}")"
	keep t_xxh "$(timeit xxhsum -H128 "${files[@]}")"
	keep t_pool "$("$work/ingestbench" hashpool "$HASH_WORKERS" "${files[@]}" | awk '{print $2}')"
done
printf '  %-44s %8s MB/s\n' "ingestd HashFile, one file at a time" "$(mbs $bytes $t_ours)"
printf '  %-44s %8s MB/s\n' "ingestd hash pool ($HASH_WORKERS workers)" "$(mbs $bytes $t_pool)"
printf '  %-44s %8s MB/s\n' "b3sum --num-threads 1 (mmap)" "$(mbs $bytes $t_b3)"
printf '  %-44s %8s MB/s\n' "b3sum --num-threads 1 --no-mmap" "$(mbs $bytes $t_b3nm)"
printf '  %-44s %8s MB/s\n' "xxhsum -H128" "$(mbs $bytes $t_xxh)"
echo "  ratio HashFile / b3sum 1-thread:          $(ratio $t_b3 $t_ours)x (goal >= 1.0)"
echo "  ratio HashFile / b3sum 1-thread no-mmap:  $(ratio $t_b3nm $t_ours)x"
echo "  ratio pool / b3sum 1-thread:              $(ratio $t_b3 $t_pool)x"
rm -f "${files[@]}"

echo "-- rescan: unchanged tree of $TREE_FILES files in $base, warm"
tree="$work/tree"
"$work/ingestbench" mktree "$tree" "$TREE_FILES"
t_find=$(best find "$tree" -printf '%s %T@\n')
out=$("$work/ingestbench" rescan "$tree" "$TRIALS")
keep t_find "$(best find "$tree" -printf '%s %T@\n')" # before and after: the best
echo "$out" | awk '
	$1=="ingest"  { printf "  initial ingest: %d files in %.2fs (%.0f files/s, settle 10ms, every catalog write synced)\n", $2, $3, $2/$3 }
	$1=="restart" { printf "  restart: ready in %.3fs (catalog index load + first walk %.3fs), files hashed: %d\n", $3, $4, $5 }
	$1=="rescan"  { if (b=="" || $3<b) b=$3; if ($4>0) h=$4 }
	$1=="walk"    { if (w=="" || $3<w) w=$3 }
	END { printf "  reconcile rescan (best): %.3fs, files hashed: %d\n  bare walk (best): %.3fs\n", b, h, w; print b > "/dev/stderr" }
' 2>"$work/rescan.best"
t_rescan=$(cat "$work/rescan.best")
printf '  %-44s %8.3fs\n' "find -printf '%s %T@\\n'" "$t_find"
echo "  ratio rescan / find:                      $(ratio $t_find $t_rescan)x (goal >= 0.5)"
