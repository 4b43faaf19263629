package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// errNoSession is returned when a call needs a token and the client has none it can use.
var errNoSession = &Error{Problem: Problem{Status: http.StatusUnauthorized, Code: "not_logged_in", Detail: "not logged in"}}

// SignUp creates an account. The answer's ID is the sub of the user's tokens.
func (c *Client) SignUp(ctx context.Context, username, password string) (User, error) {
	u, err := endpoint(c.auth, "/v1/users", nil)
	if err != nil {
		return User{}, err
	}
	var out User
	err = c.doJSON(ctx, http.MethodPost, u, false, credentials{Username: username, Password: password}, &out)
	return out, err
}

// Login signs in with a username and password, asking for Options.Scope (when empty, the
// service grants its default, files:read files:write). The client keeps the tokens and
// refreshes the access token as needed.
func (c *Client) Login(ctx context.Context, username, password string) (Token, error) {
	u, err := endpoint(c.auth, "/v1/login", nil)
	if err != nil {
		return Token{}, err
	}
	var tok Token
	if err := c.doJSON(ctx, http.MethodPost, u, false, credentials{Username: username, Password: password, Scope: c.opts.Scope}, &tok); err != nil {
		return Token{}, err
	}
	return c.accept(tok, ""), nil
}

// LookupUser resolves a username to the user (and the id their tokens carry). It needs the
// files:share scope.
func (c *Client) LookupUser(ctx context.Context, username string) (User, error) {
	u, err := endpoint(c.auth, "/v1/users/"+url.PathEscape(username), nil)
	if err != nil {
		return User{}, err
	}
	var out User
	err = c.doJSON(ctx, http.MethodGet, u, true, nil, &out)
	return out, err
}

// Refresh spends the refresh token for a new pair of tokens now. Calls that need a token
// refresh it by themselves; Refresh is for callers that want to force it.
func (c *Client) Refresh(ctx context.Context) (Token, error) {
	if _, err := c.accessToken(ctx, c.Token().AccessToken); err != nil {
		return Token{}, err
	}
	return c.Token(), nil
}

// ClientCredentials obtains a token for a service client with the client_credentials
// grant, and remembers the credentials to fetch the next one when it expires.
func (c *Client) ClientCredentials(ctx context.Context, id, secret string) (Token, error) {
	c.mu.Lock()
	c.opts.ClientID, c.opts.ClientSecret = id, secret
	c.mu.Unlock()
	tok, err := c.clientCredentials(ctx)
	if err != nil {
		return Token{}, err
	}
	return c.accept(tok, ""), nil
}

// Logout revokes the refresh token (RFC 7009; the whole rotation family dies with it) and
// forgets the tokens. The access token stays valid until it expires: access tokens are
// verified offline and cannot be recalled.
func (c *Client) Logout(ctx context.Context) error {
	tok := c.Token()
	if tok.RefreshToken != "" {
		if err := c.Revoke(ctx, tok.RefreshToken); err != nil {
			return err
		}
	}
	c.SetToken(Token{})
	return nil
}

// Revoke revokes a refresh token. An unknown token is not an error (RFC 7009 section 2.2).
func (c *Client) Revoke(ctx context.Context, refreshToken string) error {
	_, err := c.tokenCall(ctx, "/oauth2/revoke", url.Values{"token": {refreshToken}, "token_type_hint": {"refresh_token"}}, false, nil)
	return err
}

// accessToken returns an access token to send. stale, when not empty, is a token the
// service refused: a different one is needed.
func (c *Client) accessToken(ctx context.Context, stale string) (string, error) {
	if tok, ok := c.usable(stale); ok {
		return tok, nil
	}
	select { // one refresh at a time; the others wait for its result
	case c.refreshing <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-c.refreshing }()
	if tok, ok := c.usable(stale); ok {
		return tok, nil // refreshed while this caller waited
	}
	c.mu.Lock()
	cur := c.tok
	c.mu.Unlock()
	if cur.RefreshToken == "" && !c.canRenew() {
		if cur.AccessToken != "" && cur.AccessToken != stale {
			return cur.AccessToken, nil // cannot renew it: let the service judge it
		}
		return "", errNoSession
	}
	var (
		tok Token
		err error
	)
	if c.opts.Renew != nil {
		tok, err = c.opts.Renew(ctx, cur, c.renew)
	} else {
		tok, err = c.renew(ctx, cur)
	}
	if err != nil {
		return "", err
	}
	return c.accept(tok, cur.RefreshToken).AccessToken, nil
}

// renew obtains a new token: by spending from's refresh token, or with the client
// credentials.
func (c *Client) renew(ctx context.Context, from Token) (Token, error) {
	if from.RefreshToken != "" {
		tok, err := c.refresh(ctx, from.RefreshToken)
		if err == nil && tok.RefreshToken == "" {
			tok.RefreshToken = from.RefreshToken
		}
		return tok, err
	}
	c.mu.Lock()
	id := c.opts.ClientID
	c.mu.Unlock()
	if id == "" {
		return Token{}, errNoSession
	}
	return c.clientCredentials(ctx)
}

// usable returns the current access token if it is neither stale nor about to expire.
func (c *Client) usable(stale string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tok
	if t.AccessToken == "" || t.AccessToken == stale {
		return "", false
	}
	if !t.Expiry.IsZero() && !c.opts.Now().Add(c.opts.RefreshMargin).Before(t.Expiry) && c.renewable() {
		return "", false
	}
	return t.AccessToken, true
}

// renewable reports whether a new token can be had without the user; c.mu is held.
func (c *Client) renewable() bool { return c.tok.RefreshToken != "" || c.opts.ClientID != "" }

func (c *Client) canRenew() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.renewable()
}

// accept stores a new token (working out its expiry unless known), keeping the old refresh token when the answer has none, and
// tells OnToken.
func (c *Client) accept(tok Token, oldRefresh string) Token {
	if tok.Expiry.IsZero() && tok.ExpiresIn > 0 {
		tok.Expiry = c.opts.Now().Add(secondsDuration(tok.ExpiresIn))
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = oldRefresh
	}
	c.SetToken(tok)
	if c.opts.OnToken != nil {
		c.opts.OnToken(tok)
	}
	return tok
}

func (c *Client) refresh(ctx context.Context, refreshToken string) (Token, error) {
	var tok Token
	_, err := c.tokenCall(ctx, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}, false, &tok)
	if err != nil {
		return Token{}, fmt.Errorf("refresh the session: %w", err)
	}
	return tok, nil
}

func (c *Client) clientCredentials(ctx context.Context) (Token, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if c.opts.Scope != "" {
		form.Set("scope", c.opts.Scope)
	}
	var tok Token
	_, err := c.tokenCall(ctx, "/oauth2/token", form, true, &tok)
	return tok, err
}

// tokenCall posts a form to an OAuth endpoint of the auth service, with HTTP Basic client
// authentication when basic is set.
func (c *Client) tokenCall(ctx context.Context, path string, form url.Values, basic bool, out *Token) (*Token, error) {
	u, err := endpoint(c.auth, path, nil)
	if err != nil {
		return nil, err
	}
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}}
	req := request{method: http.MethodPost, url: u, header: h, bodyBytes: []byte(form.Encode())}
	if basic {
		c.mu.Lock()
		id, secret := c.opts.ClientID, c.opts.ClientSecret
		c.mu.Unlock()
		// RFC 6749 section 2.3.1: form-encode both before Basic.
		r, _ := http.NewRequest(http.MethodPost, u, nil)
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		h.Set("Authorization", r.Header.Get("Authorization"))
	}
	resp, err := c.send(ctx, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil, nil
	}
	if err := decodeJSON(resp, out); err != nil {
		return nil, err
	}
	if out.AccessToken == "" || !strings.EqualFold(out.TokenType, "Bearer") {
		return nil, errors.New("client: the token answer has no bearer access token")
	}
	return out, nil
}

// secondsDuration converts a count of seconds from the wire, clamped to a year so a huge
// value cannot overflow.
func secondsDuration(s int) time.Duration {
	return time.Duration(min(s, 366*24*3600)) * time.Second
}
