#!/usr/bin/env bash
# Proxy cutting: the proxy command run through ingestd's supervised FFmpeg
# runner next to the bare FFmpeg command with the same arguments, alternated
# on the same clip (4 s 1080p25 H.264 + stereo -> 720p proxy). Goal: the
# runner costs at most 5% (ratio <= 1.05). Also prints the whole job
# (proxy + ffprobe validation + poster + filmstrip + waveform) over bare.
# On a machine with an NVIDIA GPU: 4K HEVC 10-bit -> 720p on the GPU lane vs
# the CPU lane; elsewhere that part says why it was skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${TRANSCODE_BENCH_RUNS:-3}
command -v ffmpeg >/dev/null || { echo "transcode bench: ffmpeg missing"; exit 1; }
out=$(go test -v -run '^$' -bench 'BenchmarkProxyOverhead|BenchmarkGPUvsCPU' -benchtime "${N}x" ./transcode/ 2>&1) || { echo "$out"; exit 1; }
metric() { echo "$out" | awk -v b="$1" -v u="$2" '$1 ~ b { for (i = 1; i <= NF; i++) if ($(i+1) == u) print $i }'; }
echo "transcode proxy 1080p->720p: bare ffmpeg $(metric BenchmarkProxyOverhead bare-s) s, runner $(metric BenchmarkProxyOverhead runner-s) s, ratio $(metric BenchmarkProxyOverhead runner/bare) (goal <= 1.05); whole job/bare $(metric BenchmarkProxyOverhead job/bare)"
if echo "$out" | grep -q 'BenchmarkGPUvsCPU.*gpu-speedup'; then
  echo "transcode 4K HEVC10->720p: cpu $(metric BenchmarkGPUvsCPU cpu-s) s, gpu $(metric BenchmarkGPUvsCPU gpu-s) s, gpu speedup $(metric BenchmarkGPUvsCPU gpu-speedup)x"
else
  echo "transcode GPU vs CPU: skipped: $(echo "$out" | grep -o 'no NVDEC.*' | head -1)"
fi
