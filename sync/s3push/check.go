package s3push

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"path"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmw "github.com/aws/aws-sdk-go-v2/aws/middleware"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// unsignedPayload makes the SDK send the body once (UNSIGNED-PAYLOAD)
// instead of reading it twice for a SigV4 payload hash; integrity comes
// from the explicit CRC32C the server verifies. Reading once also keeps
// the bandwidth limiter's accounting equal to the bytes on the wire.
func unsignedPayload(stack *middleware.Stack) error {
	return v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware(stack)
}

// MaxClockSkew is the largest difference between our clock and the hub's
// that Check accepts (S3 refuses requests beyond 15 minutes).
const MaxClockSkew = 5 * time.Minute

// Check is for `ingestd doctor`: it puts, gets and deletes a probe object
// under <prefix>/<appliance_id>/ and compares our clock with the server's
// Date header.
func (p *Pusher) Check(ctx context.Context) error {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	key := path.Join(p.cfg.Prefix, p.appID, ".ingestd-probe-"+hex.EncodeToString(rnd[:]))
	body := []byte("ingestd probe " + time.Now().UTC().Format(time.RFC3339Nano))
	sent := time.Now()
	out, err := p.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &p.cfg.Bucket, Key: &key, Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))})
	if err != nil {
		return p.hubError("put probe "+key, err)
	}
	skew := time.Duration(0)
	if raw, ok := awsmw.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); ok {
		if d, err := http.ParseTime(raw.Header.Get("Date")); err == nil {
			mid := sent.Add(time.Since(sent) / 2)
			skew = mid.Sub(d)
		}
	}
	get, err := p.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &p.cfg.Bucket, Key: &key})
	if err != nil {
		return p.hubError("get probe "+key, err)
	}
	got, err := io.ReadAll(get.Body)
	get.Body.Close()
	if err != nil {
		return p.hubError("read probe "+key, err)
	}
	if !bytes.Equal(got, body) {
		return fmt.Errorf("probe %s: read back %d bytes that differ from the %d written", key, len(got), len(body))
	}
	if _, err := p.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &p.cfg.Bucket, Key: &key}); err != nil {
		return p.hubError("delete probe "+key, err)
	}
	if skew > MaxClockSkew || skew < -MaxClockSkew {
		return fmt.Errorf("clock skew %s against %s exceeds %s: fix NTP", skew.Round(time.Second), p.endpointName(), MaxClockSkew)
	}
	p.log.Info("hub check passed", "bucket", p.cfg.Bucket, "clock_skew", skew.Round(time.Millisecond))
	return nil
}
