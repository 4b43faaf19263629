package files

import "context"

// PreCreate is what the pre-create hook is told of an upload before any of its bytes is
// stored.
type PreCreate struct {
	OwnerID     string `json:"owner_id"`
	Name        string `json:"name"`
	Size        int64  `json:"size"` // -1 when the client did not declare it
	ContentType string `json:"content_type"`
	Upload      string `json:"upload"` // "direct" or "resumable"
}

// PreCreateHook may refuse an upload by the rules of the systems around Coffer (package
// webhook calls a URL).
type PreCreateHook interface {
	// Check returns nil to let the upload through, or a *PolicyError to refuse it. It decides
	// itself what a hook that cannot answer means (fail closed: a *PolicyError).
	Check(ctx context.Context, u PreCreate) error
}

// UsePreCreateHook makes every upload, direct or resumable, ask h before any byte is stored.
func (s *Service) UsePreCreateHook(h PreCreateHook) { s.hook = h }
