package hubstore_test

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/miniotest"
	"github.com/ingestd/ingestd/sync/hubstore"
	"github.com/ingestd/ingestd/sync/hubstore/storetest"
)

// TestMem runs the conformance suite against the in-memory store.
func TestMem(t *testing.T) {
	const key, secret = "mem-key", "mem-secret"
	(&storetest.Suite{
		New: func(t testing.TB) (hubstore.Store, func() hubstore.Store) {
			h := hubstore.NewMemHub(key, secret)
			h.CreateBucket("hub")
			return h.Store("hub", key, secret), func() hubstore.Store { return h.Store("hub", key, secret) }
		},
		NoBucket: func(t testing.TB) hubstore.Store {
			return hubstore.NewMemHub(key, secret).Store("hub", key, secret)
		},
		BadCredentials: func(t testing.TB) hubstore.Store {
			h := hubstore.NewMemHub(key, secret)
			h.CreateBucket("hub")
			return h.Store("hub", key, "wrong-secret")
		},
		Unreachable: func(t testing.TB) hubstore.Store {
			h := hubstore.NewMemHub(key, secret)
			h.CreateBucket("hub")
			h.Down()
			return h.Store("hub", key, secret)
		},
	}).Run(t)
}

var bucketSeq atomic.Int64

// TestS3 runs the conformance suite against the S3 store on a real MinIO.
func TestS3(t *testing.T) {
	srv := miniotest.Start(t)
	srv.SetEnv(t)
	open := func(t testing.TB, endpoint, bucket string) hubstore.Store {
		st, err := hubstore.NewS3(hubstore.S3Config{Endpoint: endpoint, Region: miniotest.Region, Bucket: bucket, PathStyle: true,
			Timeout: 10 * time.Second, StallTimeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	(&storetest.Suite{
		New: func(t testing.TB) (hubstore.Store, func() hubstore.Store) {
			bucket := fmt.Sprintf("conformance-%d", bucketSeq.Add(1))
			srv.CreateBucket(t, bucket)
			return open(t, srv.Endpoint, bucket), func() hubstore.Store { return open(t, srv.Endpoint, bucket) }
		},
		NoBucket: func(t testing.TB) hubstore.Store { return open(t, srv.Endpoint, "no-such-bucket") },
		BadCredentials: func(t testing.TB) hubstore.Store {
			bucket := fmt.Sprintf("conformance-%d", bucketSeq.Add(1))
			srv.CreateBucket(t, bucket)
			t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret") // read by NewS3
			return open(t, srv.Endpoint, bucket)
		},
		Unreachable: func(t testing.TB) hubstore.Store {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().String()
			l.Close()
			return open(t, "http://"+addr, "hub")
		},
	}).Run(t)
}
