package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Hook calls the pre-create hook: a signed POST of the upload's owner, name, size and type
// (Standard Webhooks headers, body {"type": "upload.pre_create", "timestamp", "data"}).
// A 2xx answer lets the upload through; a 4xx refuses it with the hook's message (a JSON
// {"message": ...} or the body's text); a timeout, a transport error or any other answer
// refuses it too unless FailOpen.
type Hook struct {
	URL      string
	Secret   string
	FailOpen bool
	Sender   *Sender
	Logger   *slog.Logger
}

var _ files.PreCreateHook = (*Hook)(nil)

// MaxMessageBytes bounds the hook's message passed on to the client.
const MaxMessageBytes = 500

// Check implements files.PreCreateHook.
func (h *Hook) Check(ctx context.Context, u files.PreCreate) error {
	body, err := json.Marshal(struct {
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		Data      files.PreCreate `json:"data"`
	}{"upload.pre_create", time.Now().UTC(), u})
	if err != nil {
		return err
	}
	resp, err := h.Sender.Post(ctx, h.URL, h.Secret, uuid.NewString(), body)
	if err == nil {
		return nil
	}
	var st *errStatus
	if errors.As(err, &st) && st.code >= 400 && st.code < 500 {
		return &files.PolicyError{Message: hookMessage(resp.Body)}
	}
	if ctx.Err() != nil {
		return ctx.Err() // the client went away
	}
	if h.FailOpen {
		h.Logger.WarnContext(ctx, "pre-create hook failed; upload let through (fail open)", "err", err)
		return nil
	}
	h.Logger.WarnContext(ctx, "pre-create hook failed; upload refused (fail closed)", "err", err)
	return &files.PolicyError{Message: "the upload policy could not be checked; upload refused"}
}

// hookMessage is the hook's reason as the client may see it: printable, bounded.
func hookMessage(b []byte) string {
	var m struct {
		Message string `json:"message"`
	}
	msg := string(b)
	if json.Unmarshal(b, &m) == nil && m.Message != "" {
		msg = m.Message
	}
	msg = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, strings.TrimSpace(msg))
	if len(msg) > MaxMessageBytes {
		msg = strings.ToValidUTF8(msg[:MaxMessageBytes], "")
	}
	if msg == "" {
		msg = "refused by the upload policy"
	}
	return msg
}
