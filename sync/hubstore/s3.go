package hubstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmw "github.com/aws/aws-sdk-go-v2/aws/middleware"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ingestd/ingestd/internal/redact"
)

// S3Config is what NewS3 needs. Credentials come from the standard AWS
// chain (env, shared files, web identity, instance role), never from here.
type S3Config struct {
	Endpoint  string // https://host[:port]; empty: AWS's endpoint for Region
	Region    string
	Bucket    string
	PathStyle bool
	// Timeout and StallTimeout configure the transport (HTTPClient).
	Timeout      time.Duration
	StallTimeout time.Duration
	// RequestTimeout, when set, bounds every request as a whole (doctor).
	RequestTimeout time.Duration
	// WrapHTTPClient, when set (tests), wraps the HTTP client, e.g. to
	// count requests or inject faults.
	WrapHTTPClient func(s3.HTTPClient) s3.HTTPClient
}

// S3 is a Store on one S3 bucket (AWS or a compatible server: MinIO). It
// makes one attempt per call: retrying is Retry's job.
type S3 struct {
	cfg    S3Config
	client *s3.Client
}

// NewS3 prepares a client; it does not touch the network.
func NewS3(cfg S3Config) (*S3, error) {
	hc := HTTPClient(cfg.Timeout, cfg.StallTimeout)
	if cfg.RequestTimeout > 0 {
		hc = hc.WithTimeout(cfg.RequestTimeout)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background(),
		awsconfig.WithRegion(cfg.Region),
		awsconfig.WithHTTPClient(hc),
		// Since s3 v1.73 the SDK adds CRC32 checksums to every request by
		// default, which several S3-compatible servers reject. Callers
		// send explicit CRC32C checksums.
		awsconfig.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		awsconfig.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		// One attempt per call: retrying is Retry's job.
		awsconfig.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	)
	if err != nil {
		return nil, fmt.Errorf("hub.s3: aws config: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		if cfg.WrapHTTPClient != nil {
			o.HTTPClient = cfg.WrapHTTPClient(o.HTTPClient)
		}
		o.HTTPClient = capErrorBodies{next: o.HTTPClient}
	})
	return &S3{cfg: cfg, client: client}, nil
}

// unsignedPayload makes the SDK send the body once (UNSIGNED-PAYLOAD)
// instead of reading it twice for a SigV4 payload hash; integrity comes
// from the explicit CRC32C the server verifies. Reading once also keeps
// a bandwidth limiter's accounting equal to the bytes on the wire.
func unsignedPayload(stack *middleware.Stack) error {
	return v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware(stack)
}

// Stat implements Store.
func (c *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	out, err := c.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &c.cfg.Bucket, Key: &key, ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		return ObjectInfo{}, c.fail(ctx, "head", key, "head "+key, err)
	}
	return ObjectInfo{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: aws.ToString(out.ETag), ContentType: aws.ToString(out.ContentType),
		Metadata: out.Metadata, CRC32C: aws.ToString(out.ChecksumCRC32C), Modified: aws.ToTime(out.LastModified)}, nil
}

// Put implements Store.
func (c *S3) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, o PutOptions) (PutResult, error) {
	in := &s3.PutObjectInput{Bucket: &c.cfg.Bucket, Key: &key, Body: body, ContentLength: aws.Int64(size), Metadata: o.Metadata}
	if o.ContentType != "" {
		in.ContentType = aws.String(o.ContentType)
	}
	var opts []func(*s3.Options)
	if o.CRC32C != "" {
		in.ChecksumCRC32C = aws.String(o.CRC32C)
		opts = append(opts, s3.WithAPIOptions(unsignedPayload))
	}
	out, err := c.client.PutObject(ctx, in, opts...)
	if err != nil {
		return PutResult{}, c.fail(ctx, "put", key, "put "+key, err)
	}
	var r PutResult
	if raw, ok := awsmw.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); ok {
		if d, err := http.ParseTime(raw.Header.Get("Date")); err == nil {
			r.ServerTime = d
		}
	}
	return r, nil
}

// Get implements Store.
func (c *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := c.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &c.cfg.Bucket, Key: &key})
	if err != nil {
		return nil, c.fail(ctx, "get", key, "get "+key, err)
	}
	return &s3Body{ReadCloser: out.Body, ctx: ctx, c: c, key: key}, nil
}

// s3Body classifies errors met while reading a body like the call's.
type s3Body struct {
	io.ReadCloser
	ctx context.Context
	c   *S3
	key string
}

func (b *s3Body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = b.c.fail(b.ctx, "get", b.key, "read "+b.key, err)
	}
	return n, err
}

// Delete implements Store.
func (c *S3) Delete(ctx context.Context, key string) error {
	if _, err := c.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &c.cfg.Bucket, Key: &key}); err != nil {
		return c.fail(ctx, "delete", key, "delete "+key, err)
	}
	return nil
}

// List implements Store.
func (c *S3) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	pg := s3.NewListObjectsV2Paginator(c.client, &s3.ListObjectsV2Input{Bucket: &c.cfg.Bucket, Prefix: aws.String(prefix)})
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			return c.fail(ctx, "list", prefix, "list "+prefix, err)
		}
		for _, o := range out.Contents {
			if err := fn(ObjectInfo{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ETag: aws.ToString(o.ETag), Modified: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// CreateUpload implements Store: the upload keeps a FULL_OBJECT CRC32C.
func (c *S3) CreateUpload(ctx context.Context, key string, o PutOptions) (string, error) {
	in := &s3.CreateMultipartUploadInput{Bucket: &c.cfg.Bucket, Key: &key, Metadata: o.Metadata,
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c, ChecksumType: types.ChecksumTypeFullObject}
	if o.ContentType != "" {
		in.ContentType = aws.String(o.ContentType)
	}
	out, err := c.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return "", c.fail(ctx, "create upload", key, "create multipart upload "+key, err)
	}
	return aws.ToString(out.UploadId), nil
}

// UploadPart implements Store.
func (c *S3) UploadPart(ctx context.Context, key, uploadID string, n int32, body io.ReadSeeker, size int64, crc string) (Part, error) {
	in := &s3.UploadPartInput{Bucket: &c.cfg.Bucket, Key: &key, UploadId: aws.String(uploadID), PartNumber: aws.Int32(n),
		Body: body, ContentLength: aws.Int64(size)}
	var opts []func(*s3.Options)
	if crc != "" {
		in.ChecksumCRC32C = aws.String(crc)
		opts = append(opts, s3.WithAPIOptions(unsignedPayload))
	}
	out, err := c.client.UploadPart(ctx, in, opts...)
	if err != nil {
		return Part{}, c.fail(ctx, "upload part", key, fmt.Sprintf("upload %s part %d", key, n), err)
	}
	return Part{Number: n, Size: size, ETag: aws.ToString(out.ETag), CRC32C: crc}, nil
}

// ListParts implements Store.
func (c *S3) ListParts(ctx context.Context, key, uploadID string) ([]Part, error) {
	var parts []Part
	var marker *string
	pages := 0
	for {
		out, err := c.client.ListParts(ctx, &s3.ListPartsInput{Bucket: &c.cfg.Bucket, Key: &key, UploadId: aws.String(uploadID), PartNumberMarker: marker})
		if err != nil {
			return nil, c.fail(ctx, "list parts", key, "list parts of "+key, err)
		}
		for _, p := range out.Parts {
			parts = append(parts, Part{Number: aws.ToInt32(p.PartNumber), Size: aws.ToInt64(p.Size), ETag: aws.ToString(p.ETag), CRC32C: aws.ToString(p.ChecksumCRC32C)})
		}
		// A store that lists parts without end (more than an upload can
		// have, or pages that never end) is an error, not a loop.
		if pages++; len(parts) > MaxParts || pages > MaxParts {
			return nil, fmt.Errorf("list parts of %s: the store lists more than %d parts or pages", key, MaxParts)
		}
		if !aws.ToBool(out.IsTruncated) || out.NextPartNumberMarker == nil {
			break
		}
		if marker != nil && *out.NextPartNumberMarker == *marker {
			return nil, fmt.Errorf("list parts of %s: the store's next part marker %q does not move on", key, *marker)
		}
		marker = out.NextPartNumberMarker
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Number < parts[j].Number })
	return parts, nil
}

// CompleteUpload implements Store.
func (c *S3) CompleteUpload(ctx context.Context, key, uploadID string, parts []Part, o CompleteOptions) error {
	cps := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		cps[i] = types.CompletedPart{PartNumber: aws.Int32(p.Number), ETag: aws.String(p.ETag)}
		if p.CRC32C != "" {
			cps[i].ChecksumCRC32C = aws.String(p.CRC32C)
		}
	}
	in := &s3.CompleteMultipartUploadInput{Bucket: &c.cfg.Bucket, Key: &key, UploadId: aws.String(uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: cps}}
	if o.CRC32C != "" {
		in.ChecksumCRC32C = aws.String(o.CRC32C)
		in.ChecksumType = types.ChecksumTypeFullObject
	}
	if o.Size > 0 {
		in.MpuObjectSize = aws.Int64(o.Size)
	}
	if _, err := c.client.CompleteMultipartUpload(ctx, in); err != nil {
		return c.fail(ctx, "complete upload", key, "complete multipart upload "+key, err)
	}
	return nil
}

// AbortUpload implements Store.
func (c *S3) AbortUpload(ctx context.Context, key, uploadID string) error {
	_, err := c.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &c.cfg.Bucket, Key: &key, UploadId: &uploadID})
	if err != nil && !isCode(err, "NoSuchUpload") {
		return c.fail(ctx, "abort upload", key, "abort multipart upload "+key, err)
	}
	return nil
}

// Endpoint names the server for messages: the endpoint URL (redacted) or
// "AWS S3 (<region>)".
func (c *S3) Endpoint() string { return c.cfg.Name() }

// Name names the server for messages: the endpoint URL (redacted) or
// "AWS S3 (<region>)".
func (c S3Config) Name() string {
	if c.Endpoint != "" {
		return redact.URL(c.Endpoint)
	}
	return "AWS S3 (" + c.Region + ")"
}

// fail classifies an SDK error (see Store) and says what was done and, for
// errors an operator must fix, a clear cause. what is the operation as
// messages show it ("put <key>").
func (c *S3) fail(ctx context.Context, op, key, what string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return &Error{Op: op, Key: key, Kind: ctxErr, Err: err, Msg: redact.String(fmt.Sprintf("%s: %v", what, err))}
	}
	e := &Error{Op: op, Key: key, Err: err}
	msg := ""
	switch {
	case isCode(err, "NoSuchBucket"):
		e.Kind = ErrNoBucket
		msg = fmt.Sprintf("hub.s3.bucket %q: %v (%s): %v", c.cfg.Bucket, ErrNoBucket, what, err)
	case isCode(err, "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "AccessDenied", "Forbidden", "InvalidClientTokenId"),
		strings.Contains(err.Error(), "failed to retrieve credentials"),
		strings.Contains(err.Error(), "StatusCode: 403"):
		e.Kind = ErrAuth
		msg = fmt.Sprintf("hub.s3: %v by %s for bucket %q (check the AWS credential chain and bucket policy) (%s): %v", ErrAuth, c.Endpoint(), c.cfg.Bucket, what, err)
	case isCode(err, "NoSuchUpload"):
		e.Kind = ErrNoSuchUpload
	case isCode(err, "InvalidPart", "InvalidPartOrder", "EntityTooSmall", "EntityTooLarge"),
		op == "complete upload" && isCode(err, "InvalidRequest"):
		e.Kind = ErrUploadRejected
	case isCode(err, "BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch", "XAmzContentSHA256Mismatch"):
		e.Kind = ErrChecksum
		if op == "complete upload" {
			e.Kind = ErrUploadRejected
		}
	case isNotFound(err):
		e.Kind = ErrNotFound
	}
	if e.Kind == nil && unavailable(err) {
		e.Kind = ErrUnavailable
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			msg = fmt.Sprintf("hub timed out at %s (%s; hub.s3.timeout %s, hub.s3.stall_timeout %s): %v",
				c.Endpoint(), what, c.cfg.Timeout, c.cfg.StallTimeout, err)
		} else if errors.As(err, &ne) {
			msg = fmt.Sprintf("hub unreachable at %s (%s): %v", c.Endpoint(), what, err)
		}
	}
	if msg == "" {
		msg = fmt.Sprintf("%s: %v", what, err)
	}
	e.Msg = redact.String(msg)
	return e
}

// unavailable reports a transient failure: not reached, no answer in time,
// a 5xx, throttling.
func unavailable(err error) bool {
	var ne net.Error
	var se *smithyhttp.RequestSendError
	if errors.As(err, &ne) || errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrStalled) {
		return true
	}
	if isCode(err, "SlowDown", "RequestTimeout", "Throttling", "ThrottlingException", "RequestLimitExceeded",
		"TooManyRequestsException", "InternalError", "ServiceUnavailable") {
		return true
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && (re.HTTPStatusCode() >= 500 || re.HTTPStatusCode() == http.StatusTooManyRequests) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "connection reset") || strings.Contains(s, "broken pipe")
}

func isCode(err error, codes ...string) bool {
	c := ErrorCode(err)
	for _, want := range codes {
		if c == want {
			return true
		}
	}
	return false
}

// ErrorCode is the S3 error code in err ("NoSuchBucket",
// "SignatureDoesNotMatch"), or "" (for doctor's explanations).
func ErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func isNotFound(err error) bool {
	var nf *types.NotFound
	var nk *types.NoSuchKey
	if errors.As(err, &nf) || errors.As(err, &nk) || isCode(err, "NotFound", "NoSuchKey") {
		return true
	}
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound && !isCode(err, "NoSuchBucket", "NoSuchUpload")
}
