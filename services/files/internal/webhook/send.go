package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Sender sends signed webhook requests.
type Sender struct {
	client    *http.Client
	now       func() time.Time
	userAgent string
}

// NewSender sends through client (Guard.Client); now defaults to time.Now.
func NewSender(client *http.Client, now func() time.Time) *Sender {
	if now == nil {
		now = time.Now
	}
	return &Sender{client: client, now: now, userAgent: "coffer-files-webhook/1"}
}

// Response is what a receiver answered: its status and the start of its body.
type Response struct {
	Status int
	Body   []byte // at most 4 KiB
}

// Post sends body to url signed with secret under message id id, and returns the answer.
// A non-2xx answer is returned with an error; a transport failure has no Response.
func (s *Sender) Post(ctx context.Context, url, secret, id string, body []byte) (Response, error) {
	key, err := SecretKey(secret)
	if err != nil {
		return Response{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Response{}, fmt.Errorf("webhook: %w", err)
	}
	ts := s.now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.userAgent)
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", fmt.Sprint(ts.Unix()))
	req.Header.Set("webhook-signature", Sign(key, id, ts, body))
	resp, err := s.client.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	r := Response{Status: resp.StatusCode, Body: b}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return r, &errStatus{code: resp.StatusCode}
	}
	return r, nil
}
