package daemon

// The stage registry. Every pipeline stage (ingest, transcode, sequences,
// analysis, disk guard, card offload and fixity, the hub's S3 pusher and
// webhook) is one Stage, registered once from its own file
// (stage_<name>.go) with registerStage; the web console's pages are a
// stage too, of public routes only. Provision, GET /v1/status,
// GET /metrics, `ingestd doctor` and the SIGHUP reload loop over the
// registry; nothing else in the App names a stage. docs/architecture.md
// shows how to add one.

import (
	"context"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/daemon/diskguard"
	"github.com/ingestd/ingestd/daemon/doctor"
	"github.com/ingestd/ingestd/daemon/metrics"
	"github.com/ingestd/ingestd/transcode"
)

// Stage is one stage's registration.
type Stage struct {
	// Name names the stage in logs and errors; unique.
	Name string
	// Order places the stage among the others: they are provisioned,
	// reported and reloaded in ascending Order, so a stage comes after
	// the ones it uses (sequences and analysis after transcode, cards
	// after the disk guard). See the order* constants.
	Order int
	// Provision builds the stage from the running App (config, catalog,
	// ingest pipeline and API are there) and returns what it contributes.
	// A stage that is switched off still returns its routes (they answer
	// that it is off) and its reload (which names its keys as
	// restart-only). An error stops the daemon's start.
	Provision func(a *App) (*Parts, error)
	// Doctor is the stage's part of `ingestd doctor` (from the config
	// alone, before any Provision); nil: none.
	Doctor doctor.Check
}

// Parts is what a provisioned stage contributes; every field is optional.
type Parts struct {
	// Services run under the supervisor (with their restart policy).
	Services []Service
	// Routes are added to the API (behind its authentication).
	Routes []Route
	// Public routes are added without authentication, GET and HEAD only
	// (api.Server.HandlePublic): static files with no data in them, like
	// the web console's pages. Patterns are plain paths.
	Public []Route
	// Status fills the stage's own section(s) of GET /v1/status (the
	// typed document of daemon/api/wire; status_wire.go converts a
	// stage's status type into its section).
	Status func(*wire.Status)
	// Metrics are the stage's series on GET /metrics.
	Metrics []metrics.Part
	// Reload commits the stage's part of a new config on SIGHUP. old is
	// the running config; nu is the new one (validated as a whole). For
	// every key of its own that changed, Reload either applies it live
	// and calls r.Applied, or sets nu's value back to old's (nu then
	// describes what runs) and calls r.Restart. A live change that fails
	// is logged by the stage and reverted in nu. An error aborts the
	// reload (the running config is kept as it was).
	Reload func(old, nu *config.Config, r *ReloadReport) error
}

// Route is one API endpoint of a stage. The pattern follows
// http.ServeMux; without a method in it, the handler answers other
// methods itself (405 with Allow).
type Route struct {
	Pattern string
	Handler http.Handler
}

// Provision order of the registered stages (Stage.Order).
const (
	orderIngest    = 10 // the pipeline: everything else follows the catalog it fills
	orderTranscode = 20
	orderSequences = 30 // asks transcode to skip frame proxies
	orderAnalysis  = 40 // waits on transcode's queue
	orderS3        = 50
	orderWebhook   = 60
	orderDisk      = 70 // gates transcode
	orderCards     = 80 // gated by the disk guard
	orderConsole   = 90 // static pages: uses no stage
)

var registry []Stage

// registerStage adds a stage to the registry (from an init func of its
// file). A duplicate name is a programming error.
func registerStage(s Stage) {
	for _, o := range registry {
		if o.Name == s.Name {
			panic("daemon: stage " + s.Name + " registered twice")
		}
	}
	registry = append(registry, s)
	slices.SortStableFunc(registry, func(a, b Stage) int { return a.Order - b.Order })
}

// Stages returns the registered stages' names in provision order.
func Stages() []string {
	var out []string
	for _, s := range registry {
		out = append(out, s.Name)
	}
	return out
}

// provisioned is a stage with what its Provision returned.
type provisioned struct {
	name string
	*Parts
}

// provisionStages provisions every registered stage in order and adds its
// services and routes.
func (a *App) provisionStages() error {
	for _, s := range registry {
		p, err := s.Provision(a)
		if err != nil {
			return err
		}
		if p == nil {
			p = &Parts{}
		}
		a.stages = append(a.stages, provisioned{name: s.Name, Parts: p})
		a.services = append(a.services, p.Services...)
		for _, r := range p.Routes {
			a.api.Handle(r.Pattern, r.Handler)
		}
		for _, r := range p.Public {
			a.api.HandlePublic(r.Pattern, r.Handler)
		}
	}
	return nil
}

// stageStatus lets every stage fill its sections of /v1/status.
func (a *App) stageStatus(doc *wire.Status) {
	for _, s := range a.stages {
		if s.Status != nil {
			s.Status(doc)
		}
	}
}

// stageMetrics are the stages' metrics parts.
func (a *App) stageMetrics() []metrics.Part {
	var out []metrics.Part
	for _, s := range a.stages {
		out = append(out, s.Metrics...)
	}
	return out
}

// ReloadReport says, per config key, what a reload did: Applied keys run
// with their new values; Restart keys kept their running values and take
// effect after a restart. Keys are YAML paths ("proxy.cpu_jobs",
// "hub.s3.bandwidth"); a key names a whole section ("hub.webhook",
// "sequences") when the stage reloads nothing of it.
type ReloadReport struct {
	Applied []string `json:"applied"`
	Restart []string `json:"restart"`
}

// Apply records keys applied live.
func (r *ReloadReport) Apply(keys ...string) { r.Applied = append(r.Applied, keys...) }

// NeedRestart records keys kept at their running values.
func (r *ReloadReport) NeedRestart(keys ...string) { r.Restart = append(r.Restart, keys...) }

// restartOnly is the Reload of a section that applies nothing live: a
// change is reported as key and the running value kept (get returns a
// pointer to the section in a config).
func restartOnly[T any](key string, get func(*config.Config) *T) func(old, nu *config.Config, r *ReloadReport) error {
	return func(old, nu *config.Config, r *ReloadReport) error {
		if len(changedKeys(key, *get(old), *get(nu))) > 0 {
			r.NeedRestart(key)
			*get(nu) = *get(old)
		}
		return nil
	}
}

// DoctorChecks are the registered stages' doctor checks, in order.
func DoctorChecks() []doctor.Check {
	var out []doctor.Check
	for _, s := range registry {
		if s.Doctor != nil {
			out = append(out, s.Doctor)
		}
	}
	return out
}

// Doctor runs `ingestd doctor`: the machine's checks and every registered
// stage's (opts.Checks is replaced).
func Doctor(ctx context.Context, cfg *config.Config, opts doctor.Options) doctor.Report {
	opts.Checks = DoctorChecks()
	return doctor.Run(ctx, cfg, opts)
}

// changedKeys names what differs between two values of one config type:
// for a struct (or a pointer to one, both non-nil), each field whose value
// differs, by its YAML key under prefix ("proxy" -> "proxy.cpu_jobs");
// otherwise prefix itself when the values differ. It only names keys: each
// stage's Reload decides what it can apply.
func changedKeys(prefix string, old, nu any) []string {
	ov, nv := reflect.ValueOf(old), reflect.ValueOf(nu)
	if ov.Kind() == reflect.Pointer && nv.Kind() == reflect.Pointer && !ov.IsNil() && !nv.IsNil() {
		ov, nv = ov.Elem(), nv.Elem()
	}
	if ov.Kind() != reflect.Struct || ov.Type() != nv.Type() {
		if reflect.DeepEqual(old, nu) {
			return nil
		}
		return []string{prefix}
	}
	var out []string
	for i := range ov.NumField() {
		f := ov.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if !reflect.DeepEqual(ov.Field(i).Interface(), nv.Field(i).Interface()) {
			out = append(out, prefix+"."+name)
		}
	}
	return out
}

// shared holds the stages that other stages use, set by their Provision
// (a stage provisioned later may use one provisioned earlier: Order).
type shared struct {
	transcode *transcode.Service // nil when the stage is not running (proxyErr says why)
	proxyErr  string
	disk      *diskguard.Guard // the free-space guard (stage_disk.go)
	diskCards bool             // cards: configured at start (restart-only); read without a.cfg, which a reload swaps
}

// postOnly allows POST only (the console's actions).
func postOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			api.WriteError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed", "")
			return
		}
		h(w, r)
	})
}

// getOnly allows GET and HEAD only.
func getOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			api.WriteError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed", "")
			return
		}
		h.ServeHTTP(w, r)
	})
}
