// Package client is a Go client for Coffer's auth and file services: sign-up, login and
// token refresh, streamed uploads with a SHA-256 Repr-Digest, resumable uploads (tus 1.0.0),
// resumable downloads (Range with If-Range), listings as iterators, metadata, sharing and
// signed links. Error answers become *Error values that match sentinels such as ErrNotFound.
//
// The package is light: it imports only the standard library, so programs can depend on it
// without the services' web framework, database driver or cloud SDK.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Options configure a Client. Zero fields take the default written beside them.
type Options struct {
	// FilesURL is the file service's base URL, e.g. http://localhost:8082.
	FilesURL string
	// AuthURL is the auth service's base URL, e.g. http://localhost:8081.
	AuthURL string
	// HTTPClient sends every request. Default: a client without an overall timeout
	// (transfers can be long; bound them with the context) and with 128 KiB socket buffers.
	HTTPClient *http.Client
	// Token is the session to start from, e.g. one saved after an earlier Login.
	Token Token
	// OnToken, when set, is called with every token the client obtains (login, refresh,
	// client credentials), so the caller can save it. It must not call the Client.
	OnToken func(Token)
	// ClientID and ClientSecret, when set, let the client fetch access tokens with the
	// client_credentials grant whenever it needs one (machines, not people).
	ClientID, ClientSecret string
	// Scope is the space-separated scope asked for at login and with client credentials;
	// empty asks for the service's default (AllScopes asks for every scope).
	Scope string
	// Renew, when set, wraps every renewal of the access token, for sessions shared between
	// processes: it is called under the client's own refresh lock with the token the client
	// holds, and either returns a newer token obtained elsewhere (another process that
	// already renewed the shared session) or calls renew with the freshest token it knows,
	// typically while holding a file lock. A refresh token is spent once, so two processes
	// must never both spend it.
	Renew func(ctx context.Context, current Token, renew func(context.Context, Token) (Token, error)) (Token, error)
	// RefreshMargin is how long before its expiry an access token is replaced. Default 30s.
	RefreshMargin time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// AllScopes is every scope a Coffer user can hold (files:share is not granted unless
// asked for).
const AllScopes = "files:read files:write files:share"

// Client calls the Coffer services. It is safe for concurrent use; the access token is
// refreshed by one caller at a time while the others wait for its result.
type Client struct {
	files, auth *url.URL
	http        *http.Client
	opts        Options

	mu  sync.Mutex // guards tok
	tok Token
	// refreshing holds one token while a refresh is running, so concurrent callers do not
	// spend the (single-use, rotated) refresh token twice.
	refreshing chan struct{}
}

// New returns a Client for the services at opts.FilesURL and opts.AuthURL.
func New(opts Options) (*Client, error) {
	c := &Client{opts: opts, tok: opts.Token, refreshing: make(chan struct{}, 1)}
	var err error
	if c.files, err = baseURL("FilesURL", opts.FilesURL); err != nil {
		return nil, err
	}
	if c.auth, err = baseURL("AuthURL", opts.AuthURL); err != nil {
		return nil, err
	}
	if c.opts.RefreshMargin <= 0 {
		c.opts.RefreshMargin = 30 * time.Second
	}
	if c.opts.Now == nil {
		c.opts.Now = time.Now
	}
	c.http = opts.HTTPClient
	if c.http == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.WriteBufferSize, t.ReadBufferSize = 128<<10, 128<<10
		c.http = &http.Client{Transport: t, CheckRedirect: keepAuthOnOrigin}
	}
	return c, nil
}

// keepAuthOnOrigin follows up to 10 redirects, sending the bearer token only to the origin
// (scheme, host and port) it was meant for. net/http keeps Authorization for the same host
// name or a subdomain on any port, so a file node in S3 redirect mode would hand the token to
// an object store on the same host (which refuses a request that carries two signatures).
func keepAuthOnOrigin(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if first := via[0].URL; req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
		req.Header.Del("Authorization")
	}
	return nil
}

func baseURL(name, s string) (*url.URL, error) {
	if s == "" {
		return nil, nil // calls that need it fail with a clear error
	}
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: %s %q is not an http(s) URL", name, s)
	}
	return u, nil
}

// Token returns the client's current token (for saving).
func (c *Client) Token() Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tok
}

// SetToken replaces the client's token, e.g. with one loaded from disk.
func (c *Client) SetToken(t Token) {
	c.mu.Lock()
	c.tok = t
	c.mu.Unlock()
}

// endpoint joins a service base URL, a path and a query.
func endpoint(base *url.URL, path string, q url.Values) (string, error) {
	if base == nil {
		return "", fmt.Errorf("client: no URL configured for %s", path)
	}
	u := *base
	u.Path = strings.TrimRight(base.Path, "/") + path
	u.RawPath = ""
	if q != nil {
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// request describes one call.
type request struct {
	method string
	url    string
	header http.Header
	// body is sent as is; bodyBytes, if set instead, lets the call be retried after a
	// token refresh.
	body      io.Reader
	bodyBytes []byte
	size      int64 // Content-Length of body; -1 when unknown
	authed    bool  // send the access token (and refresh it on a 401)
	// what names the request in errors without secrets (defaults to method and path).
	what string
}

// send performs r and returns the response when its status is below 400; otherwise the
// answer as an *Error. The caller closes the body.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	stale := ""
	for attempt := 0; ; attempt++ {
		req, err := c.newRequest(ctx, r)
		if err != nil {
			return nil, err
		}
		if r.authed {
			tok, err := c.accessToken(ctx, stale)
			if err != nil {
				return nil, err
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			stale = tok
		}
		resp, err := c.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, networkError(r.method, r.target(), err)
		}
		if resp.StatusCode < 400 {
			return resp, nil
		}
		err = responseError(resp)
		resp.Body.Close()
		replayable := r.body == nil
		if r.authed && resp.StatusCode == http.StatusUnauthorized && attempt == 0 && replayable && c.canRenew() {
			continue // the token was refused before it expired (revoked key, clock skew): renew once
		}
		return nil, err
	}
}

func (r request) target() string {
	if r.what != "" {
		return r.what
	}
	if u, err := url.Parse(r.url); err == nil {
		return u.Path
	}
	return "request"
}

func (c *Client) newRequest(ctx context.Context, r request) (*http.Request, error) {
	body := r.body
	if r.bodyBytes != nil {
		body = bytes.NewReader(r.bodyBytes)
	} else if body != nil && r.size == 0 {
		body = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return nil, fmt.Errorf("client: %s: %w", r.target(), err)
	}
	if r.body != nil {
		req.ContentLength = max(r.size, -1) // -1: unknown, sent chunked
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	return req, nil
}

// doJSON sends in (if not nil) as JSON and decodes the answer into out (if not nil).
func (c *Client) doJSON(ctx context.Context, method, u string, authed bool, in, out any) error {
	r := request{method: method, url: u, authed: authed, header: http.Header{"Accept": {"application/json"}}}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("client: %w", err)
		}
		r.bodyBytes = b
		r.header.Set("Content-Type", "application/json")
	}
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	return decodeJSON(resp, out)
}
