package s3_test

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cofferhq/coffer/pkg/s3test"
	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/files/blobtest"
	"github.com/cofferhq/coffer/services/files/internal/s3"
)

// awsEnv leaves the AWS default chain only the environment variables given, so nothing on
// the machine (a profile, an instance role) can supply credentials instead.
func awsEnv(t *testing.T, accessKey, secretKey string) {
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", accessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secretKey)
}

func newChainStore(t *testing.T, srv *s3test.Server) *s3.Store {
	t.Helper()
	s, err := s3.New(s3.Config{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.NewBucket(t)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestConformanceDefaultChain runs the blob suite with no static keys in the config: the
// credentials come only from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
func TestConformanceDefaultChain(t *testing.T) {
	srv := s3test.Start(t)
	awsEnv(t, srv.AccessKey, srv.SecretKey)
	blobtest.RunTests(t, func(t *testing.T) files.BlobStore { return newChainStore(t, srv) }, blobtest.Options{LargeSize: 6 << 20})
}

// TestDefaultChainWrongSecret shows the environment is what signs: a wrong secret there is
// refused by the server.
func TestDefaultChainWrongSecret(t *testing.T) {
	srv := s3test.Start(t)
	awsEnv(t, srv.AccessKey, "not-"+srv.SecretKey)
	s := newChainStore(t, srv)
	if _, err := s.Put(context.Background(), "k", strings.NewReader("x")); err == nil {
		t.Fatal("Put with a wrong secret in AWS_SECRET_ACCESS_KEY succeeded")
	}
}

func TestConfigCredentialsAndSSE(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  s3.Config
		want string // substring of the error; "" for none
	}{
		{"static keys", s3.Config{AccessKey: "a", SecretKey: "b"}, ""},
		{"default chain", s3.Config{}, ""},
		{"half static", s3.Config{AccessKey: "a"}, "both"},
		{"sse s3", s3.Config{SSE: s3.SSES3}, ""},
		{"sse kms", s3.Config{SSE: s3.SSEKMS, SSEKMSKeyID: "arn:aws:kms:us-east-1:1:key/x"}, ""},
		{"sse kms default key", s3.Config{SSE: s3.SSEKMS}, ""},
		{"kms key without kms", s3.Config{SSE: s3.SSES3, SSEKMSKeyID: "k"}, "aws:kms"},
		{"kms key alone", s3.Config{SSEKMSKeyID: "k"}, "aws:kms"},
		{"unknown sse", s3.Config{SSE: "rot13"}, "rot13"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			awsEnv(t, "", "")
			tc.cfg.Bucket = "b"
			_, err := s3.New(tc.cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("New error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// headerRecorder remembers the SSE headers of every request.
type headerRecorder struct {
	mu   sync.Mutex
	seen []string
}

func (h *headerRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.seen = append(h.seen, r.Method+" "+r.URL.RawQuery+" | "+
		r.Header.Get("X-Amz-Server-Side-Encryption")+" "+r.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"))
	h.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// sent reports whether one recorded request is method with a query holding query and carries
// want.
func (h *headerRecorder) sent(method, query, want string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.ContainsFunc(h.seen, func(s string) bool {
		req, hdr, _ := strings.Cut(s, " | ")
		m, q, _ := strings.Cut(req, " ")
		return m == method && strings.Contains(q, query) && hdr == want
	})
}

// TestSSEHeadersSent: with SSE set, the upload asks the server to encrypt the object, and so
// does a resumable upload (its multipart upload and its tail object).
func TestSSEHeadersSent(t *testing.T) {
	srv := s3test.Start(t)
	for _, tc := range []struct{ sse, key, want string }{
		{s3.SSES3, "", "AES256 "},
		{s3.SSEKMS, "alias/coffer", "aws:kms alias/coffer"},
	} {
		t.Run(tc.sse, func(t *testing.T) {
			rec := &headerRecorder{}
			s, err := s3.New(s3.Config{
				Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.NewBucket(t),
				AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, SSE: tc.sse, SSEKMSKeyID: tc.key,
				HTTPClient: &http.Client{Transport: rec},
			})
			if err != nil {
				t.Fatal(err)
			}
			_, _ = s.Put(context.Background(), "k", strings.NewReader("x")) // the server may not support KMS
			if !rec.sent(http.MethodPut, "x-id=PutObject", tc.want) {
				t.Fatalf("Put sent no PutObject with %q", tc.want)
			}
			// A resumable upload of less than a part: CreateMultipartUpload and the tail
			// object's PutObject both ask for encryption.
			rec.mu.Lock()
			rec.seen = nil
			rec.mu.Unlock()
			_, _, err = s.Append(context.Background(), "r", nil, 0, strings.NewReader("x"))
			if !rec.sent(http.MethodPost, "uploads", tc.want) {
				t.Fatalf("Append sent %q, want a CreateMultipartUpload with %q", rec.seen, tc.want)
			}
			if err == nil && !rec.sent(http.MethodPut, "x-id=PutObject", tc.want) {
				t.Fatalf("Append sent %q, want a tail PutObject with %q", rec.seen, tc.want)
			}
			if err != nil && tc.sse == s3.SSES3 {
				t.Fatalf("Append with %s: %v", tc.sse, err)
			}
		})
	}
}
