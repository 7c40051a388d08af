package doctor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmw "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/internal/redact"
	"github.com/ingestd/ingestd/sync/s3push"
	"github.com/ingestd/ingestd/sync/webhook"
)

const credFix = "check the AWS credential chain of the ingestd user (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the unit's EnvironmentFile, or AWS_SHARED_CREDENTIALS_FILE under /etc) and that the bucket policy allows s3:PutObject, s3:GetObject and s3:DeleteObject on the prefix"

// checkS3 writes, reads back and deletes a probe object under
// <prefix>/<appliance_id>/ with the daemon's client settings, and compares
// our clock with the server's Date header. It never touches the catalog.
func checkS3(ctx context.Context, cfg *config.Config, timeout time.Duration) []Finding {
	return redactFindings(s3Findings(ctx, cfg, timeout))
}

func s3Findings(ctx context.Context, cfg *config.Config, timeout time.Duration) []Finding {
	c := *cfg.Hub.S3
	where := redact.URL(c.Endpoint)
	if where == "" {
		where = "AWS S3 (" + c.Region + ")"
	}
	target := fmt.Sprintf("bucket %q at %s", c.Bucket, where)
	ctx, cancel := context.WithTimeout(ctx, 4*timeout)
	defer cancel()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithRegion(c.Region),
		// The daemon's client (connect, response and stall timeouts; keeps
		// AWS_CA_BUNDLE working), each request bounded by timeout.
		awsconfig.WithHTTPClient(s3push.HTTPClient(c).WithTimeout(timeout)),
		awsconfig.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		awsconfig.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		awsconfig.WithRetryMaxAttempts(1),
	)
	if err != nil {
		return []Finding{{Check: "s3", Level: Fail, Message: "AWS configuration: " + err.Error(), Fix: credFix}}
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
		o.UsePathStyle = c.PathStyle
	})
	app := cfg.ApplianceID
	if app == "" {
		app = "ingestd-doctor"
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	key := path.Join(c.Prefix, app, ".ingestd-doctor-probe-"+hex.EncodeToString(rnd[:]))
	body := []byte("ingestd doctor probe " + time.Now().UTC().Format(time.RFC3339Nano))
	fail := func(op string, err error) []Finding {
		return []Finding{{Check: "s3", Level: Fail, Message: fmt.Sprintf("%s: %s of probe object %s failed: %s", target, op, key, s3Reason(err)), Fix: s3Fix(err)}}
	}
	sent := time.Now()
	out, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &c.Bucket, Key: &key, Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))})
	if err != nil {
		return fail("put", err)
	}
	rtt := time.Since(sent)
	var skewF *Finding
	if raw, ok := awsmw.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); ok {
		if d, err := http.ParseTime(raw.Header.Get("Date")); err == nil {
			skewF = skewFinding(sent.Add(rtt/2).Sub(d), where)
		}
	}
	get, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &c.Bucket, Key: &key})
	if err != nil {
		return fail("get", err)
	}
	got, err := io.ReadAll(get.Body)
	get.Body.Close()
	if err != nil {
		return fail("get", err)
	}
	if !bytes.Equal(got, body) {
		return []Finding{{Check: "s3", Level: Fail, Message: fmt.Sprintf("%s: probe %s read back %d bytes that differ from the %d written", target, key, len(got), len(body)), Fix: "check for a proxy or gateway rewriting objects"}}
	}
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &c.Bucket, Key: &key}); err != nil {
		return fail("delete", err)
	}
	fs := []Finding{{Check: "s3", Level: OK, Message: fmt.Sprintf("%s: put, get and delete of a probe object under %s/ work (%s round trip)", target, path.Join(c.Prefix, app), rtt.Round(time.Millisecond))}}
	if skewF != nil {
		fs = append(fs, *skewF)
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
	case abs > s3push.MaxClockSkew:
		return &Finding{Check: "clock", Level: Fail, Message: msg + fmt.Sprintf(": beyond %s; S3 refuses requests signed more than 15 minutes off", s3push.MaxClockSkew), Fix: fix}
	case abs > 30*time.Second:
		return &Finding{Check: "clock", Level: Warn, Message: msg + ": event times will be off", Fix: fix}
	}
	return &Finding{Check: "clock", Level: OK, Message: msg}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func s3Reason(err error) string {
	switch code := apiCode(err); code {
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
	switch apiCode(err) {
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
	case resp.StatusCode >= 500:
		fs = append(fs, Finding{Check: "webhook", Level: Warn, Message: msg + ": the hub reports an error", Fix: "ask the hub's operators; deliveries are retried with backoff meanwhile"})
	default:
		fs = append(fs, Finding{Check: "webhook", Level: OK, Message: msg})
	}
	return fs
}
