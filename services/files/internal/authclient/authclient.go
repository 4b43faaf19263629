// Package authclient asks the auth service about users, for the rare operations that need
// more than a verified token: turning the username a person typed into the user id a share
// stores. Token verification never goes through here (see tokenauth); this is one explicit
// call at share time, made with the caller's own access token, bounded by a timeout.
package authclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// DefaultTimeout is Options.Timeout unless configured otherwise.
const DefaultTimeout = 5 * time.Second

// Options configures a Client.
type Options struct {
	// BaseURL is the auth service's base URL (e.g. http://auth:8081). Required.
	BaseURL string
	// Timeout bounds one lookup, connection included. Default DefaultTimeout.
	Timeout time.Duration
	// Client sends the requests. Default: a client that follows no redirects, so the
	// caller's token goes to BaseURL and nowhere else.
	Client *http.Client
}

// Client looks users up in the auth service.
type Client struct {
	base    string
	timeout time.Duration
	client  *http.Client
}

// New returns a Client.
func New(opts Options) (*Client, error) {
	u, err := url.Parse(opts.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("authclient: base URL %q must be an absolute http(s) URL", opts.BaseURL)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Client == nil {
		opts.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &Client{base: strings.TrimSuffix(opts.BaseURL, "/"), timeout: opts.Timeout, client: opts.Client}, nil
}

// maxResponseBytes bounds the lookup answer read into memory.
const maxResponseBytes = 16 << 10

// LookupUser returns the id of the enabled user with that username, asking with token (the
// caller's bearer access token, which needs files:share). files.ErrUserNotFound if the auth
// service knows no such user; files.ErrUnavailable if it cannot be reached in time or
// answers anything else.
func (c *Client) LookupUser(parent context.Context, token, username string) (string, error) {
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/users/"+url.PathEscape(username), nil)
	if err != nil {
		return "", fmt.Errorf("authclient: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		if parent.Err() != nil {
			// The caller went away; not the auth service's fault.
			return "", fmt.Errorf("authclient: %w", parent.Err())
		}
		return "", fmt.Errorf("%w: auth service: %w", files.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return "", fmt.Errorf("%w: auth service: read answer: %w", files.ErrUnavailable, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return "", files.ErrUserNotFound
	default:
		// 401/403 cannot happen for a token the file service accepted unless the two
		// services disagree (issuer, audience, clock): an outage from the caller's view.
		return "", fmt.Errorf("%w: auth service answered user lookup with %d", files.ErrUnavailable, resp.StatusCode)
	}
	var u struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &u); err != nil || files.ValidateUserID(u.ID) != nil {
		return "", fmt.Errorf("%w: auth service: malformed user lookup answer", files.ErrUnavailable)
	}
	return u.ID, nil
}
