package daemon

// The web console (daemon/console): its static pages at / and under /ui/,
// served without authentication (they hold no data; the page logs in
// through /v1/session and is then an API client like any other).

import "github.com/ingestd/ingestd/daemon/console"

func init() {
	registerStage(Stage{Name: "console", Order: orderConsole, Provision: provisionConsole})
}

// provisionConsole adds the console's public routes. Nothing to run, no
// status, no config: nothing to reload.
func provisionConsole(*App) (*Parts, error) {
	h := console.Handler()
	return &Parts{Public: []Route{{"/{$}", h}, {"/ui/", h}}}, nil
}
