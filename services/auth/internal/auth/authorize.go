package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// CodeTTL is how long an authorization code may be exchanged.
const CodeTTL = 60 * time.Second

// AuthorizeParams are the parameters of an authorization request (RFC 6749 section 4.1.1,
// RFC 7636 section 4.3), as sent.
type AuthorizeParams struct {
	ResponseType        string
	ClientID            string
	RedirectURI         string
	State               string
	Scope               string
	CodeChallenge       string
	CodeChallengeMethod string
}

// AuthorizeRequest is a checked authorization request.
type AuthorizeRequest struct {
	Client        Client
	RedirectURI   string
	State         string
	Scopes        []string
	CodeChallenge string
}

// pkceValue is the syntax of a code verifier and of an S256 challenge (RFC 7636 section 4.1).
var pkceValue = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// CheckAuthorize validates an authorization request. ErrUnknownClient and ErrRedirectURI
// (and storage errors) must be shown to the user; an *AuthorizeError goes back to the
// returned request's RedirectURI, with its State.
func (s *Service) CheckAuthorize(ctx context.Context, p AuthorizeParams) (AuthorizeRequest, error) {
	if p.ClientID == "" || len(p.ClientID) > 64 {
		return AuthorizeRequest{}, ErrUnknownClient
	}
	c, err := s.st.Clients.ClientByID(ctx, p.ClientID)
	if errors.Is(err, ErrNotFound) || (err == nil && (c.Disabled || len(c.RedirectURIs) == 0)) {
		return AuthorizeRequest{}, ErrUnknownClient
	}
	if err != nil {
		return AuthorizeRequest{}, err
	}
	// Exact string match, no normalisation (RFC 9700 section 4.1.3).
	if !slices.Contains(c.RedirectURIs, p.RedirectURI) {
		return AuthorizeRequest{}, ErrRedirectURI
	}
	req := AuthorizeRequest{Client: c, RedirectURI: p.RedirectURI}
	fail := func(code, desc string) (AuthorizeRequest, error) {
		return req, &AuthorizeError{Code: code, Description: desc}
	}
	if len(p.State) > 1024 {
		return fail("invalid_request", "state is too long")
	}
	req.State = p.State
	switch {
	case p.ResponseType == "":
		return fail("invalid_request", "response_type is required")
	case p.ResponseType != "code":
		return fail("unsupported_response_type", "only response_type=code is supported")
	case p.State == "":
		// PKCE already stops code injection; requiring state as well protects clients that
		// would otherwise have no defence against login CSRF of their own.
		return fail("invalid_request", "state is required")
	case p.CodeChallenge == "":
		return fail("invalid_request", "code_challenge is required (PKCE with S256)")
	case p.CodeChallengeMethod != "S256":
		// RFC 7636 section 4.4.1: a missing method means plain, which is not supported.
		return fail("invalid_request", "code_challenge_method must be S256")
	case len(p.CodeChallenge) != 43 || !pkceValue.MatchString(p.CodeChallenge):
		return fail("invalid_request", "code_challenge is not an S256 challenge")
	}
	scopes, err := narrowScopes(strings.Fields(p.Scope), c.Scopes, c.Scopes)
	if err != nil {
		return fail("invalid_scope", "a requested scope is not allowed for this client")
	}
	req.Scopes, req.CodeChallenge = scopes, p.CodeChallenge
	return req, nil
}

// IssueCode stores a one-time code for a checked request and the signed-in user, valid for
// CodeTTL, and returns it.
func (s *Service) IssueCode(ctx context.Context, req AuthorizeRequest, userID uuid.UUID) (string, error) {
	code, hash, err := NewRefreshSecret()
	if err != nil {
		return "", err
	}
	now := s.now().UTC()
	err = s.st.Codes.CreateCode(ctx, AuthCode{
		Hash: hash, ClientID: req.Client.ID, UserID: userID, RedirectURI: req.RedirectURI, CodeChallenge: req.CodeChallenge,
		Scope: strings.Join(req.Scopes, " "), CreatedAt: now, ExpiresAt: now.Add(CodeTTL),
	})
	if err != nil {
		return "", err
	}
	return code, nil
}

// CodeExchange is a token request of the authorization_code grant.
type CodeExchange struct {
	Client       ClientAuth
	Code         string
	RedirectURI  string
	CodeVerifier string
}

// ExchangeCode redeems an authorization code (RFC 6749 section 4.1.3, RFC 7636 section 4.6)
// for an access token and a refresh token. A code is consumed by its first presentation,
// whatever the outcome; a second presentation revokes the refresh family it issued
// (ErrCodeReused). ErrInvalidClient when client authentication fails; ErrInvalidGrant for
// an unknown or expired code, one issued to another client or redirect URI, or a wrong
// verifier.
func (s *Service) ExchangeCode(ctx context.Context, x CodeExchange) (TokenResponse, error) {
	client, err := s.authenticateClient(ctx, x.Client)
	if err != nil {
		return TokenResponse{}, err
	}
	if !plausibleSecret(x.Code) {
		return TokenResponse{}, ErrInvalidGrant
	}
	now := s.now().UTC()
	hash := HashSecret(x.Code)
	code, err := s.st.Codes.ConsumeCode(ctx, hash, now)
	if err != nil {
		return TokenResponse{}, err
	}
	if code.ClientID != client.ID || code.RedirectURI != x.RedirectURI || !now.Before(code.ExpiresAt) ||
		!pkceValue.MatchString(x.CodeVerifier) || !verifierMatches(x.CodeVerifier, code.CodeChallenge) {
		return TokenResponse{}, ErrInvalidGrant
	}
	scopes := strings.Fields(code.Scope)
	return s.issueForUser(ctx, code.UserID, client.ID, scopes, s.newFamily(code.UserID, client.ID, scopes, now),
		func(ctx context.Context, rt RefreshToken) error { return s.st.Codes.StoreCodeTokens(ctx, hash, rt) })
}

// verifierMatches checks BASE64URL(SHA256(verifier)) == challenge in constant time.
func verifierMatches(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

// StartSession opens a sign-in session for the user and returns the cookie value and when
// it expires.
func (s *Service) StartSession(ctx context.Context, userID uuid.UUID) (string, time.Time, error) {
	token, hash, err := NewRefreshSecret()
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.now().UTC()
	exp := now.Add(s.cfg.SessionTTL)
	if err := s.st.Sessions.CreateSession(ctx, Session{Hash: hash, UserID: userID, CreatedAt: now, ExpiresAt: exp}); err != nil {
		return "", time.Time{}, err
	}
	return token, exp, nil
}

// SessionUser returns the enabled user of a live session; ErrNotFound otherwise.
func (s *Service) SessionUser(ctx context.Context, token string) (User, error) {
	if !plausibleSecret(token) {
		return User{}, ErrNotFound
	}
	return s.st.Sessions.SessionUser(ctx, HashSecret(token), s.now().UTC())
}

// EndSession ends a sign-in session; an unknown one is not an error.
func (s *Service) EndSession(ctx context.Context, token string) error {
	if !plausibleSecret(token) {
		return nil
	}
	return s.st.Sessions.DeleteSession(ctx, HashSecret(token))
}
