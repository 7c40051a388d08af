package s3push

import (
	"encoding/json"
	"regexp"
	"slices"

	"github.com/ingestd/ingestd/storage"
)

// The per-asset outputs: what of an asset's derived files goes to
// <prefix>/<appliance>/assets/<id>/, with which Content-Type. A new output
// is one entry in Outputs (or one pattern in outputType) and, when another
// stage than the proxy or the analysis produces it, one more block in
// outputsOf.

// Outputs are the derived files that may be uploaded, by name. Anything else
// listed in an asset's proxy outputs is ignored.
var Outputs = map[string]string{
	"proxy.mp4":      "video/mp4",
	"proxy.m4a":      "audio/mp4",
	"proxy.jpg":      "image/jpeg",
	"poster.jpg":     "image/jpeg",
	"filmstrip.jpg":  "image/jpeg",
	"waveform.json":  "application/json",
	"analysis.json":  "application/json", // from the asset's analysis outputs
	"shots.jpg":      "image/jpeg",
	"transcript.vtt": "text/vtt; charset=utf-8",
}

// reEnrichment matches an analysis output enrichment/<enricher name>.json
// (package analysis), uploaded as application/json.
var reEnrichment = regexp.MustCompile(`^enrichment/[a-z0-9_-]{1,32}\.json$`)

// reThumbnail matches an analysis output shots/NNNNN.jpg, a per-shot
// thumbnail (package analysis), uploaded as image/jpeg.
var reThumbnail = regexp.MustCompile(`^shots/[0-9]{5}\.jpg$`)

// outputType is the Content-Type of an uploadable output name.
func outputType(name string) string {
	if reEnrichment.MatchString(name) {
		return "application/json"
	}
	if reThumbnail.MatchString(name) {
		return "image/jpeg"
	}
	return Outputs[name]
}

// outputsOf lists the uploadable outputs of a ready proxy.
func outputsOf(a storage.Asset) []string {
	if a.Proxy == nil || a.Proxy.Status != "ready" {
		return nil
	}
	var names []string
	for _, n := range a.Proxy.Outputs {
		if _, ok := Outputs[n]; ok && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	// A ready analysis (package analysis) adds analysis.json, shots.jpg and
	// its enrichers' transcript.vtt and enrichment/<name>.json.
	if a.Analysis != nil && a.Analysis.Status == "ready" {
		for _, n := range a.Analysis.Outputs {
			if outputType(n) != "" && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names
}

// docJSON is the uploaded asset.json.
func docJSON(doc storage.AssetDoc) ([]byte, error) {
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
