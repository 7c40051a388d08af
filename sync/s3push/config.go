package s3push

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/ingestd/ingestd/internal/redact"
	"github.com/ingestd/ingestd/sync/hubstore"
)

// Defaults applied by SetDefaults.
const (
	DefaultPartSize    = 16 << 20
	MinPartSize        = hubstore.MinPartSize
	MaxPartSize        = hubstore.MaxPartSize
	DefaultConcurrency = 4
	DefaultRetryMin    = time.Second
	DefaultRetryMax    = 5 * time.Minute
	// DefaultMultipartThreshold: objects of at least this size go multipart.
	DefaultMultipartThreshold = DefaultPartSize
	// DefaultTimeout bounds connecting, the TLS handshake and the wait for
	// a response's headers once the request is sent.
	DefaultTimeout = hubstore.DefaultTimeout
	// DefaultStallTimeout: a connection on which no byte moved, either
	// way, for this long while a request is in progress is closed and the
	// request fails (and is retried).
	DefaultStallTimeout = hubstore.DefaultStallTimeout
)

// Config is the yaml section hub.s3. Credentials come from the standard AWS
// chain (env, shared files, web identity, instance role) and are never in
// this struct nor in the logs.
type Config struct {
	Endpoint  string `yaml:"endpoint"` // https://s3.eu-west-1.amazonaws.com; empty: AWS default for Region
	Region    string `yaml:"region"`
	Bucket    string `yaml:"bucket"`
	Prefix    string `yaml:"prefix"`
	PathStyle bool   `yaml:"path_style"`
	// PartSize of multipart uploads (default 16 MiB, min 5 MiB). Objects
	// smaller than MultipartThreshold (default PartSize) are sent in one PUT.
	PartSize           int64 `yaml:"part_size"`
	MultipartThreshold int64 `yaml:"multipart_threshold"`
	// Concurrency bounds the requests carrying data at once (default 4).
	Concurrency int `yaml:"concurrency"`
	// Bandwidth is the upload rate schedule; outside every window uploads
	// are unlimited. Windows are in the daemon's local time and may cross
	// midnight: [{from: "08:00", to: "19:00", rate: "20MiB/s"}].
	Bandwidth []Window `yaml:"bandwidth"`
	// RetryMin and RetryMax bound the exponential backoff (with jitter)
	// after a failed attempt (defaults 1s and 5m).
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
	// Timeout bounds connecting, the TLS handshake and the wait for a
	// response's headers after the request was sent (default 30s).
	Timeout time.Duration `yaml:"timeout"`
	// StallTimeout cancels a request whose bytes stop moving, either way,
	// for this long: a hub that accepts and never answers, or stops
	// reading an upload or sending a response midway (default 60s).
	StallTimeout time.Duration `yaml:"stall_timeout"`
}

// Window is one time-of-day bandwidth rule.
type Window = hubstore.Window

// SetDefaults fills keys left empty.
func (c *Config) SetDefaults() {
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.MultipartThreshold == 0 {
		c.MultipartThreshold = c.PartSize
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.RetryMin == 0 {
		c.RetryMin = DefaultRetryMin
	}
	if c.RetryMax == 0 {
		c.RetryMax = DefaultRetryMax
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	c.Prefix = strings.Trim(c.Prefix, "/")
}

var reBucket = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

func keyErr(key, format string, args ...any) error {
	return fmt.Errorf("hub.s3.%s: %s", key, fmt.Sprintf(format, args...))
}

// Validate checks a defaulted config; the error names the key
// ("hub.s3.bucket: required"). No side effects.
func (c Config) Validate() error {
	if c.Bucket == "" {
		return keyErr("bucket", "required")
	}
	if !reBucket.MatchString(c.Bucket) {
		return keyErr("bucket", "invalid bucket name %q", c.Bucket)
	}
	if c.Endpoint != "" {
		if err := CheckEndpoint(c.Endpoint); err != nil {
			return keyErr("endpoint", "%v", err)
		}
	}
	if c.Region == "" {
		return keyErr("region", "required")
	}
	if strings.Contains(c.Prefix, "//") || strings.Contains(c.Prefix, "..") {
		return keyErr("prefix", "invalid prefix %q", c.Prefix)
	}
	if c.PartSize < MinPartSize || c.PartSize > MaxPartSize {
		return keyErr("part_size", "must be between 5 MiB and 5 GiB, got %d", c.PartSize)
	}
	if c.MultipartThreshold < 1 || c.MultipartThreshold > MaxPartSize {
		return keyErr("multipart_threshold", "must be between 1 and 5 GiB, got %d", c.MultipartThreshold)
	}
	if c.Concurrency < 1 || c.Concurrency > 64 {
		return keyErr("concurrency", "must be between 1 and 64, got %d", c.Concurrency)
	}
	if c.RetryMin <= 0 || c.RetryMax < c.RetryMin {
		return keyErr("retry_max", "need 0 < retry_min (%s) <= retry_max (%s)", c.RetryMin, c.RetryMax)
	}
	if c.Timeout < time.Second || c.Timeout > time.Hour {
		return keyErr("timeout", "must be between 1s and 1h, got %s", c.Timeout)
	}
	if c.StallTimeout < time.Second || c.StallTimeout > time.Hour {
		return keyErr("stall_timeout", "must be between 1s and 1h, got %s", c.StallTimeout)
	}
	sched, err := hubstore.ParseSchedule(c.Bandwidth)
	if err != nil {
		return fmt.Errorf("hub.s3.%w", err)
	}
	// The limiter hands out Chunk bytes at a time: at a very low rate the
	// connection would sit idle past the stall timeout between two chunks.
	const chunk = hubstore.Chunk
	for i, r := range sched.Rules() {
		if r.Rate > 0 && time.Duration(float64(chunk)/r.Rate*float64(time.Second)) > c.StallTimeout/2 {
			return keyErr(fmt.Sprintf("bandwidth[%d].rate", i), "%s is too slow for hub.s3.stall_timeout %s (at least %.0f bytes/s, or raise stall_timeout)",
				r.Text, c.StallTimeout, 2*float64(chunk)/c.StallTimeout.Seconds())
		}
	}
	return nil
}

// CheckEndpoint checks an S3 endpoint URL without echoing it: it may carry
// credentials, which belong in the AWS credential chain, never in the
// config (they would reach logs and /v1/status).
func CheckEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid URL %q: want http(s)://host[:port]", redact.URL(endpoint))
	}
	if u.User != nil {
		return errors.New("must not contain user info (user:password@): give credentials through the AWS credential chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a shared credentials file)")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return fmt.Errorf("invalid URL %q: a query or fragment is not allowed", redact.URL(endpoint))
	}
	return nil
}
