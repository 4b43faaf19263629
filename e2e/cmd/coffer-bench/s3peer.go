package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cofferhq/coffer/e2e/harness"
)

// s3peer is versitygw on a folder of this run: the S3 backend of one file node, and a peer
// in its own right, reached with presigned URLs so the same load generator can drive it.
type s3peer struct {
	endpoint, access, secret, bucket string
	cmd                              *exec.Cmd
	exited                           chan struct{}
	client                           *s3.Client
	presign                          *s3.PresignClient
}

func startS3(ctx context.Context, b *bench) (*s3peer, error) {
	addr, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	p := &s3peer{endpoint: "http://" + addr, access: "bench" + randomHex(6), secret: randomHex(20), bucket: "bench", exited: make(chan struct{})}
	dir := filepath.Join(b.work, "versitygw")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// --keep-alive as S3 itself: by default versitygw answers every request with
	// "Connection: close", so each GET, presigned or a file node's, would pay a new connection.
	p.cmd = exec.Command(b.bins.versitygw, "--access", p.access, "--secret", p.secret, "--port", addr, "--keep-alive", "-q", "posix", dir)
	p.cmd.Stdout, p.cmd.Stderr = b.logs, b.logs
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start versitygw: %w", err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	p.client = s3.New(s3.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(p.access, p.secret, ""),
		BaseEndpoint: aws.String(p.endpoint),
		UsePathStyle: true,
	})
	p.presign = s3.NewPresignClient(p.client)
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := p.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(p.bucket)})
		if err == nil {
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, errors.New("versitygw exited")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("versitygw: create bucket: %w", err)
		}
	}
}

func (p *s3peer) filesEnv() map[string]string {
	return map[string]string{
		"COFFER_FILES_STORAGE": "s3", "COFFER_FILES_S3_ENDPOINT": p.endpoint, "COFFER_FILES_S3_BUCKET": p.bucket,
		"COFFER_FILES_S3_ACCESS_KEY": p.access, "COFFER_FILES_S3_SECRET_KEY": p.secret, "COFFER_FILES_S3_PREFIX": "coffer/",
	}
}

// getURL and putURL are presigned URLs of key, valid for the run.
func (p *s3peer) getURL(ctx context.Context, key string) (string, error) {
	r, err := p.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(key)}, s3.WithPresignExpires(3*time.Hour))
	if err != nil {
		return "", err
	}
	return r.URL, nil
}

func (p *s3peer) putURL(ctx context.Context, key string) (string, error) {
	r, err := p.presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(key)}, s3.WithPresignExpires(3*time.Hour))
	if err != nil {
		return "", err
	}
	return r.URL, nil
}

func (p *s3peer) stop() {
	p.cmd.Process.Kill()
	<-p.exited
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
