#!/usr/bin/env bash
# Edge analysis (technical QC and shots) next to the proxy job of the same
# file, both in the real daemon: a 20 s 1080p25 H.264 + stereo clip, proxy
# job (720p proxy + poster + filmstrip + waveform + validation) then the
# analysis (video from the proxy, audio from the master). Goal: analysis
# time <= 0.5x the proxy job on CPU.
# Then the peak memory of the analysis's FFmpeg processes on long
# programmes (ANALYSIS_BENCH_HOURS, default "1 10": 1 fps, 8 kHz audio)
# next to FFmpeg only decoding the same file: the ratio must stay flat as
# the programme grows.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v ffmpeg >/dev/null || { echo "analysis bench: ffmpeg missing"; exit 1; }
out=$(INGESTD_BENCH_ANALYSIS=1 go test -count=1 -v -run '^TestAnalysisBenchRatio$' ./cmd/ingestd/ 2>&1) || { echo "$out"; exit 1; }
echo "$out" | grep -o 'BENCH .*' | sed 's/^BENCH //'
out=$(INGESTD_BENCH_ANALYSIS=1 go test -count=1 -v -timeout 60m -run '^TestAnalysisBenchMemory$' ./analysis/ 2>&1) || { echo "$out"; exit 1; }
echo "$out" | grep -o 'BENCH .*' | sed 's/^BENCH //'
