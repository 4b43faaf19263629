package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors, for errors.Is. A service's answer is an *Error that matches the sentinel
// of its status (and, for some, its code); transport failures wrap ErrNetwork.
var (
	// ErrInvalid: the request was refused as bad input (400, 415, 416).
	ErrInvalid = errors.New("invalid request")
	// ErrUnauthorized: no valid credentials (401), or the refresh token or client
	// credentials were refused (invalid_grant, invalid_client). Log in again.
	ErrUnauthorized = errors.New("not authenticated")
	// ErrForbidden: authenticated but not allowed (403), e.g. a token without the scope.
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: no such file visible to the caller, no such user or link (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request conflicts with the current state (409, e.g. username_taken).
	ErrConflict = errors.New("conflict")
	// ErrTooLarge: the file exceeds the size limit or the caller's quota (413).
	ErrTooLarge = errors.New("too large")
	// ErrUnavailable: the service is busy or a dependency is down (503); retry later.
	ErrUnavailable = errors.New("service unavailable")
	// ErrDigestMismatch: the bytes do not match their SHA-256 (the server's digest_mismatch,
	// or a transfer whose Repr-Digest disagrees with the bytes received).
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrNetwork: the request did not get an answer (connection refused, reset, timeout).
	ErrNetwork = errors.New("network error")
	// ErrNotCoffer: the URL answered, but not as a Coffer service does (an HTML page, a
	// proxy's answer, another API): the --server or --auth-server is wrong.
	ErrNotCoffer = errors.New("not a Coffer service")
	// ErrResumeRejected: a resumed download was answered from the start, because the
	// representation changed since the partial bytes were fetched (If-Range did not match).
	ErrResumeRejected = errors.New("resume rejected: the file changed")
)

// Error is a service's error answer: the problem document (an OAuth error is carried as a
// problem with its error as Code and its error_description as Detail).
type Error struct {
	Problem
	// RetryAfter is the Retry-After header, when the service sent one.
	RetryAfter time.Duration
}

// Error returns the problem's detail, which is written for people.
func (e *Error) Error() string {
	msg := e.Detail
	if msg == "" {
		msg = e.Title
	}
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code != "" {
		return msg + " (" + e.Code + ")"
	}
	return msg
}

// Is matches the sentinel for the error's status and code.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrInvalid:
		return (e.Status == http.StatusBadRequest || e.Status == http.StatusUnsupportedMediaType ||
			e.Status == http.StatusRequestedRangeNotSatisfiable) && !e.authFailure()
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.authFailure()
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrTooLarge:
		return e.Status == http.StatusRequestEntityTooLarge
	case ErrUnavailable:
		return e.Status == http.StatusServiceUnavailable
	case ErrDigestMismatch:
		return e.Code == "digest_mismatch"
	case ErrNotCoffer:
		return e.Code == "not_coffer"
	}
	return false
}

// authFailure reports an OAuth answer that means the credentials are no longer good.
func (e *Error) authFailure() bool { return e.Code == "invalid_grant" || e.Code == "invalid_client" }

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// responseError turns a non-success answer into an *Error, reading a problem document or an
// OAuth error when the body holds one.
func responseError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{Problem: Problem{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode)}}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case mt == "application/problem+json":
		var p Problem
		if json.Unmarshal(body, &p) == nil {
			e.Problem = p
			e.Status = resp.StatusCode // the status line is authoritative
		}
	case mt == "application/json":
		var o oauthError
		if json.Unmarshal(body, &o) == nil && o.Error != "" {
			e.Code, e.Detail = o.Error, o.Description
		}
	case resp.StatusCode == http.StatusUnauthorized:
		// A bare 401 (e.g. from a proxy) still says what the WWW-Authenticate challenge says.
		if c := resp.Header.Get("WWW-Authenticate"); strings.Contains(c, "invalid_token") {
			e.Code = "invalid_token"
		}
	default:
		// Coffer's services answer every error with a problem document: this is something
		// else (a web server's 405 page, a proxy's 502), and the person should hear so.
		e.Detail = fmt.Sprintf("%s answered %d %s with %s instead of a Coffer error; is the server address right?",
			resp.Request.URL.Host, resp.StatusCode, http.StatusText(resp.StatusCode), orUnknown(mt))
		e.Code = "not_coffer"
	}
	return e
}

// notCoffer is a success answer that a Coffer service would not have sent.
func notCoffer(resp *http.Response, what string) error {
	return fmt.Errorf("%w: %s %s", ErrNotCoffer, resp.Request.URL.Scheme+"://"+resp.Request.URL.Host+resp.Request.URL.Path, what+"; check the server address (--server, --auth-server)")
}

func orUnknown(mt string) string {
	if mt == "" {
		return "no content type"
	}
	return mt
}

// networkError marks a failure to get an answer. target names the request without its
// query or any secret in the path (a link token).
func networkError(method, target string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text repeats the whole URL
	}
	return fmt.Errorf("%w: %s %s: %w", ErrNetwork, method, target, err)
}

func asError(err error, target **Error) bool { return errors.As(err, target) }
