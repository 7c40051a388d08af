package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/internal/redact"
	"github.com/ingestd/ingestd/sync/hubstore"
	"github.com/ingestd/ingestd/sync/webhook"
)

const credFix = "check the AWS credential chain of the ingestd user (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the unit's EnvironmentFile, or AWS_SHARED_CREDENTIALS_FILE under /etc) and that the bucket policy allows s3:PutObject, s3:GetObject and s3:DeleteObject on the prefix"

// checkS3 runs the pusher's probe (hubstore.Probe: put, read back and
// delete a probe object under <prefix>/<appliance_id>/, clock skew against
// the server's Date header) with the daemon's client settings. It never
// touches the catalog.
func checkS3(ctx context.Context, cfg *config.Config, timeout time.Duration) []Finding {
	return redactFindings(s3Findings(ctx, cfg, timeout))
}

func s3Findings(ctx context.Context, cfg *config.Config, timeout time.Duration) []Finding {
	c := *cfg.Hub.S3
	ctx, cancel := context.WithTimeout(ctx, 4*timeout)
	defer cancel()
	// The daemon's store (connect, response and stall timeouts; keeps
	// AWS_CA_BUNDLE working), one attempt per request, each bounded by
	// timeout.
	st, err := hubstore.NewS3(hubstore.S3Config{Endpoint: c.Endpoint, Region: c.Region, Bucket: c.Bucket, PathStyle: c.PathStyle,
		Timeout: c.Timeout, StallTimeout: c.StallTimeout, RequestTimeout: timeout})
	if err != nil {
		return []Finding{{Check: "s3", Level: Fail, Message: "AWS configuration: " + err.Error(), Fix: credFix}}
	}
	where := st.Endpoint()
	target := fmt.Sprintf("bucket %q at %s", c.Bucket, where)
	app := cfg.ApplianceID
	if app == "" {
		app = "ingestd-doctor"
	}
	dir := path.Join(c.Prefix, app)
	// The probe the pusher runs (s3push.Pusher.Check).
	r, err := hubstore.Probe(ctx, st, dir)
	var pe *hubstore.ProbeError
	switch {
	case errors.As(err, &pe) && errors.Is(err, hubstore.ErrProbeMismatch):
		return []Finding{{Check: "s3", Level: Fail, Message: fmt.Sprintf("%s: probe %s: %v", target, pe.Key, pe.Err), Fix: "check for a proxy or gateway rewriting objects"}}
	case errors.As(err, &pe):
		return []Finding{{Check: "s3", Level: Fail, Message: fmt.Sprintf("%s: %s of probe object %s failed: %s", target, pe.Op, pe.Key, s3Reason(pe.Err)), Fix: s3Fix(pe.Err)}}
	case err != nil:
		return []Finding{{Check: "s3", Level: Fail, Message: fmt.Sprintf("%s: probe failed: %s", target, s3Reason(err)), Fix: s3Fix(err)}}
	}
	fs := []Finding{{Check: "s3", Level: OK, Message: fmt.Sprintf("%s: put, get and delete of a probe object under %s/ work (%s round trip)", target, dir, r.RTT.Round(time.Millisecond))}}
	if r.SkewKnown {
		fs = append(fs, *skewFinding(r.Skew, where))
	} else {
		fs = append(fs, Finding{Check: "clock", Level: Warn, Message: "the S3 server sent no Date header; clock skew not measured", Fix: "make sure NTP runs (timedatectl)"})
	}
	return fs
}

func skewFinding(skew time.Duration, where string) *Finding {
	abs := skew
	if abs < 0 {
		abs = -abs
	}
	msg := fmt.Sprintf("clock skew %s against %s", skew.Round(time.Millisecond), where)
	fix := "enable NTP: timedatectl set-ntp true (or chrony/systemd-timesyncd)"
	switch {
	case abs > hubstore.MaxClockSkew:
		return &Finding{Check: "clock", Level: Fail, Message: msg + fmt.Sprintf(": beyond %s; S3 refuses requests signed more than 15 minutes off", hubstore.MaxClockSkew), Fix: fix}
	case abs > 30*time.Second:
		return &Finding{Check: "clock", Level: Warn, Message: msg + ": event times will be off", Fix: fix}
	}
	return &Finding{Check: "clock", Level: OK, Message: msg}
}

// s3Reason explains a probe failure; err is the store's error (a
// *hubstore.Error), whose cause is the SDK's.
func s3Reason(err error) string {
	var he *hubstore.Error
	if errors.As(err, &he) && he.Err != nil {
		err = he.Err
	}
	switch code := hubstore.ErrorCode(err); code {
	case "InvalidAccessKeyId":
		return "credentials rejected: the access key id is unknown to the server (" + code + ")"
	case "SignatureDoesNotMatch":
		return "credentials rejected: the secret key is wrong (" + code + ")"
	case "AccessDenied", "Forbidden":
		return "access denied by the bucket policy or the user's permissions (" + code + ")"
	case "NoSuchBucket":
		return "the bucket does not exist (" + code + ")"
	case "ExpiredToken", "InvalidToken", "RequestTimeTooSkewed":
		return code + ": " + oneLine(err.Error())
	}
	s := err.Error()
	if strings.Contains(s, "failed to retrieve credentials") || strings.Contains(s, "no EC2 IMDS role found") {
		return "no credentials found in the AWS credential chain"
	}
	return oneLine(s)
}

func s3Fix(err error) string {
	var he *hubstore.Error
	if errors.As(err, &he) && he.Err != nil {
		err = he.Err
	}
	switch hubstore.ErrorCode(err) {
	case "NoSuchBucket":
		return "create the bucket, or correct hub.s3.bucket / hub.s3.endpoint"
	case "RequestTimeTooSkewed":
		return "enable NTP: timedatectl set-ntp true"
	case "":
		if s := err.Error(); !strings.Contains(s, "credentials") {
			return "check hub.s3.endpoint, DNS, the firewall and any proxy (HTTPS_PROXY) between the appliance and the hub"
		}
	}
	return credFix
}

// checkWebhook sends a HEAD (no events) to the webhook URL with the bearer
// token and reports whether the hub answers.
func checkWebhook(ctx context.Context, cfg *config.Config, timeout time.Duration) []Finding {
	return redactFindings(webhookFindings(ctx, cfg, timeout))
}

// redactFindings masks URL secrets (userinfo, query values) in findings:
// doctor prints them and errors from net/http embed the request's URL.
func redactFindings(fs []Finding) []Finding {
	for i := range fs {
		fs[i].Message = redact.String(fs[i].Message)
		fs[i].Fix = redact.String(fs[i].Fix)
	}
	return fs
}

func webhookFindings(ctx context.Context, cfg *config.Config, timeout time.Duration) []Finding {
	w := cfg.Hub.Webhook
	var fs []Finding
	token := ""
	if w.TokenFile != "" {
		b, err := os.ReadFile(w.TokenFile)
		switch {
		case err != nil:
			fs = append(fs, Finding{Check: "webhook", Level: Fail, Message: "hub.webhook.token_file: " + err.Error(), Fix: "create the file (chmod 0640, group ingestd) or correct hub.webhook.token_file"})
		case strings.TrimSpace(string(b)) == "":
			fs = append(fs, Finding{Check: "webhook", Level: Fail, Message: "hub.webhook.token_file " + w.TokenFile + " is empty", Fix: "write the hub's token into it"})
		default:
			token = strings.TrimSpace(string(b))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, w.URL, nil)
	if err != nil {
		return append(fs, Finding{Check: "webhook", Level: Fail, Message: "hub.webhook.url: " + redact.String(err.Error()), Fix: "correct hub.webhook.url"})
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("User-Agent", "ingestd-doctor")
	wc := *w
	wc.Timeout = timeout
	resp, err := webhook.HTTPClient(wc).Do(req)
	if err != nil {
		return append(fs, Finding{Check: "webhook", Level: Fail, Message: "cannot reach " + redact.URL(w.URL) + ": " + oneLine(redact.String(err.Error())),
			Fix: "check hub.webhook.url, DNS, TLS certificates, the firewall and any proxy"})
	}
	resp.Body.Close()
	msg := fmt.Sprintf("%s answers HEAD with %s (no events sent)", redact.URL(w.URL), resp.Status)
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		fs = append(fs, Finding{Check: "webhook", Level: Warn, Message: msg + ": the hub may reject the token", Fix: "check hub.webhook.token_file holds the token the hub expects"})
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		fs = append(fs, Finding{Check: "webhook", Level: Fail, Message: msg + " to " + redact.URL(resp.Header.Get("Location")) + ": deliveries are never redirected (they would park)", Fix: "set hub.webhook.url to the hub's final URL"})
	case resp.StatusCode >= 500:
		fs = append(fs, Finding{Check: "webhook", Level: Warn, Message: msg + ": the hub reports an error", Fix: "ask the hub's operators; deliveries are retried with backoff meanwhile"})
	default:
		fs = append(fs, Finding{Check: "webhook", Level: OK, Message: msg})
	}
	return fs
}
