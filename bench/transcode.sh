#!/usr/bin/env bash
# Proxy cutting, on the same clip (4 s 1080p25 H.264 + stereo, timecode ->
# 720p proxy):
#  - the proxy command run through ingestd's supervised FFmpeg runner next
#    to the bare FFmpeg command with the same arguments, alternated. Goal:
#    the runner costs at most 5% (ratio <= 1.05);
#  - the whole job through ingestd's code path (one FFmpeg run from the
#    master for proxy + poster + filmstrip + waveform, then the ffprobe
#    validations) next to that bare proxy encode. Goal: ratio <= 1.3;
#  - how many times ingestd reads the master per ingest: the real ingest
#    pipeline and transcode service on a fresh volume, opens counted by the
#    kernel (inotify) and split between ffprobe and FFmpeg by logging
#    wrappers around the real binaries (BenchmarkMasterReads).
# On a machine with an NVIDIA GPU: 4K HEVC 10-bit -> 720p on the GPU lane vs
# the CPU lane; elsewhere that part says why it was skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${TRANSCODE_BENCH_RUNS:-3}
command -v ffmpeg >/dev/null || { echo "transcode bench: ffmpeg missing"; exit 1; }
out=$(go test -v -run '^$' -bench 'BenchmarkProxyOverhead|BenchmarkMasterReads|BenchmarkGPUvsCPU' -benchtime "${N}x" ./transcode/ 2>&1) || { echo "$out"; exit 1; }
metric() { echo "$out" | awk -v b="$1" -v u="$2" '$1 ~ b { for (i = 1; i <= NF; i++) if ($(i+1) == u) print $i }'; }
echo "transcode proxy 1080p->720p: bare ffmpeg $(metric BenchmarkProxyOverhead bare-s) s, runner $(metric BenchmarkProxyOverhead runner-s) s, ratio $(metric BenchmarkProxyOverhead runner/bare) (goal <= 1.05)"
echo "transcode whole job (proxy + poster + filmstrip + waveform + validation): bare proxy encode $(metric BenchmarkProxyOverhead bare-s) s, whole job $(metric BenchmarkProxyOverhead job-s) s, ratio $(metric BenchmarkProxyOverhead job/bare) (goal <= 1.3; CPU time ratio $(metric BenchmarkProxyOverhead cpu-job/bare))"
echo "master reads per ingest (mean over ${N} ingests, counted): hash: $(metric BenchmarkMasterReads hash-reads), probe: $(metric BenchmarkMasterReads probe-reads), transcode: $(metric BenchmarkMasterReads transcode-reads)"
if echo "$out" | grep -q 'BenchmarkGPUvsCPU.*gpu-speedup'; then
  echo "transcode 4K HEVC10->720p: cpu $(metric BenchmarkGPUvsCPU cpu-s) s, gpu $(metric BenchmarkGPUvsCPU gpu-s) s, gpu speedup $(metric BenchmarkGPUvsCPU gpu-speedup)x"
else
  echo "transcode GPU vs CPU: skipped: $(echo "$out" | grep -o 'no NVDEC.*' | head -1)"
fi
