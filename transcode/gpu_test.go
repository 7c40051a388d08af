package transcode

import (
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
)

// TestDetectCPUOnly: gpu off runs no GPU trial and keeps the CPU lane.
func TestDetectCPUOnly(t *testing.T) {
	tools := needFFmpeg(t)
	c, err := Detect(t.Context(), tools, GPUOff)
	if err != nil {
		t.Fatal(err)
	}
	if !c.LibX264 || c.CUDA || c.GPU() || len(c.Lanes()) != 1 || c.Lanes()[0] != LaneCPU {
		t.Fatalf("caps %+v", c)
	}
	if _, tried := c.Errors["cuda"]; tried {
		t.Fatal("gpu off still tried CUDA")
	}
}

// TestDetectGPU: with gpu auto each trial runs on its own. Without an NVIDIA
// GPU every GPU trial fails cleanly (reason recorded) and only the CPU lane
// is left; "require" then refuses to start. With one, NVDEC must decode
// H.264 and scale_cuda must work.
func TestDetectGPU(t *testing.T) {
	tools := needFFmpeg(t)
	c, err := Detect(t.Context(), tools, GPUAuto)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("capabilities: %+v", c)
	if _, err := exec.LookPath("nvidia-smi"); err != nil {
		if c.CUDA || c.GPU() || c.NVENC || c.Errors["cuda"] == "" {
			t.Fatalf("no nvidia-smi but caps %+v", c)
		}
		if _, err := Detect(t.Context(), tools, GPURequire); !errors.Is(err, ErrNoGPU) {
			t.Fatalf("require without a GPU: err %v, want ErrNoGPU", err)
		}
		t.Skip("no NVIDIA GPU (nvidia-smi absent): GPU trials failed cleanly; GPU checks skipped")
	}
	if !c.GPU() || !c.NVDEC["h264"] || !c.ScaleCUDA {
		t.Fatalf("nvidia-smi present but the NVDEC pipeline does not work: %+v", c)
	}
}

// TestGPUPipeline cuts zoo clips on the GPU lane (NVDEC + scale_cuda +
// hwdownload + libx264, or NVENC where present) and checks the real outputs
// like the CPU ones.
func TestGPUPipeline(t *testing.T) {
	dir, _ := zoo(t)
	tools := needFFmpeg(t)
	caps, err := Detect(t.Context(), tools, GPUAuto)
	if err != nil {
		t.Fatal(err)
	}
	if !caps.GPU() {
		t.Skipf("no working NVDEC + scale_cuda pipeline (trial errors: %v): GPU test skipped", caps.Errors)
	}
	tools.Volumes = map[string]string{"nas": dir}
	cat := catalogtest.Open(t, filepath.Join(t.TempDir(), "catalog"))
	state := t.TempDir()
	names := []string{"avchd.mts", "hevc10_hlg.mp4", "mpeg2_interlaced.mxf", "anamorphic_hdv.mov", "h264_vfr.mp4", "xdcam_discrete_4ch.mxf"}
	ids := map[string]string{}
	for _, n := range names {
		ids[n] = catalogFile(t, cat, "nas", dir, n)
	}
	startService(t, Config{GPU: GPURequire}, tools, state, cat)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			c := clipByName(t, n)
			doc := waitAsset(t, cat, ids[n], 3*time.Minute, finalStatus)
			v, _ := videoStream(doc.Media)
			wantLane := LaneCPU
			if gpuOK(caps, v) {
				wantLane = LaneGPU
			}
			if doc.Proxy.Status != StatusReady || doc.Proxy.Lane != wantLane {
				t.Fatalf("proxy %+v, want ready on %s", doc.Proxy, wantLane)
			}
			checkVideoProxy(t, c, doc, storage.OutputPath(state, doc.ID, OutProxyVideo))
		})
	}
}
