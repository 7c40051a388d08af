package daemon

// The hub's webhook stage (sync/webhook): the event log POSTed to the hub
// in batches, parked on a rejected batch until an operator un-parks it
// (the console's action or SIGHUP).

import (
	"fmt"
	"net/http"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/daemon/doctor"
	"github.com/ingestd/ingestd/daemon/metrics"
	"github.com/ingestd/ingestd/sync/webhook"
)

func init() {
	registerStage(Stage{Name: "webhook", Order: orderWebhook, Provision: provisionWebhook, Doctor: doctor.Webhook})
}

// provisionWebhook: POST /v1/sync/webhook/unpark always (404 without
// hub.webhook), the notifier with an enabled hub.webhook. hub.webhook is
// restart-only; its token file is re-read for every batch anyway, and a
// reload un-parks a parked batch (sent again).
func provisionWebhook(a *App) (*Parts, error) {
	var n *webhook.Notifier
	p := &Parts{
		Routes: []Route{{"/v1/sync/webhook/unpark", postOnly(func(w http.ResponseWriter, r *http.Request) {
			if n == nil {
				api.WriteError(w, http.StatusNotFound, "no hub.webhook configured", "")
				return
			}
			if n.Status().Parked == nil {
				api.WriteError(w, http.StatusConflict, "the webhook is not parked", "")
				return
			}
			n.Unpark()
			a.log.Info("webhook un-park requested", "component", "console")
			api.WriteJSON(w, http.StatusAccepted, map[string]string{"status": "unparked"})
		})}},
		Reload: func(old, nu *config.Config, r *ReloadReport) error {
			if err := restartOnly("hub.webhook", func(c *config.Config) **webhook.Config { return &c.Hub.Webhook })(old, nu, r); err != nil {
				return err
			}
			if n != nil {
				n.Unpark()
			}
			return nil
		},
	}
	c := a.cfg.Hub.Webhook
	if c == nil || !c.Enabled() {
		return p, nil
	}
	var err error
	if n, err = webhook.New(*c, a.applianceID, a.cat, a.log); err != nil {
		return nil, fmt.Errorf("hub.webhook: %w", err)
	}
	p.Services = []Service{{Name: "webhook", Run: n.Run, Restart: true}} // hub outages are transient
	p.Status = func(doc *wire.Status) {
		st := n.Status()
		syncOf(doc).Webhook = syncSection(nil, &st).Webhook
	}
	cat := a.cat // the API stops before the catalog closes
	p.Metrics = []metrics.Part{metrics.Webhook(func() (webhook.Status, bool) { return n.Status(), true }, cat.LastSeq)}
	return p, nil
}
