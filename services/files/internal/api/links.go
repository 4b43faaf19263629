package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// linkPasswordHeader carries a link's or file request's password. A header, never the query
// string, so it stays out of logs, histories and Referer headers.
const linkPasswordHeader = "Coffer-Link-Password"

// linkJSON is a link as the API shows it. URL, the signed long form, is shown only when the
// link is made (its token is not stored); ShortURL and PageURL always.
type linkJSON struct {
	ID           string    `json:"id"`
	FileID       string    `json:"file_id"`
	FileName     string    `json:"file_name"`
	URL          string    `json:"url,omitempty"`
	ShortURL     string    `json:"short_url,omitempty"`
	PageURL      string    `json:"page_url,omitempty"`
	ExpiresAt    time.Time `json:"expires_at"`
	MaxDownloads *int      `json:"max_downloads,omitempty"`
	BudgetBytes  *int64    `json:"budget_bytes,omitempty"`
	ServedBytes  int64     `json:"served_bytes"`
	Password     bool      `json:"password"`
	CreatedAt    time.Time `json:"created_at"`
}

func (s *Server) linkJSON(l files.Link) linkJSON {
	out := linkJSON{
		ID: l.ID.String(), FileID: l.FileID.String(), FileName: l.FileName, ExpiresAt: l.ExpiresAt,
		MaxDownloads: l.MaxDownloads, ServedBytes: l.ServedBytes, Password: l.HasPassword(), CreatedAt: l.CreatedAt,
	}
	if b := l.Budget(); b >= 0 {
		out.BudgetBytes = &b
	}
	if l.ShortID != "" {
		out.ShortURL = s.opts.PublicURL + shortLinksPrefix + l.ShortID
		if s.opts.WebURL != "" {
			out.PageURL = s.opts.WebURL + "/s/" + l.ShortID
		}
	}
	return out
}

func (s *Server) handleCreateLink() gin.HandlerFunc {
	type request struct {
		ExpiresIn    int64  `json:"expires_in"`
		MaxDownloads *int   `json:"max_downloads,omitempty"`
		Password     string `json:"password,omitempty"`
	}
	return func(c *gin.Context) {
		id, err := fileID(c)
		if err != nil || s.opts.Links == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		req, err := decode[request](s, c)
		if err != nil {
			s.error(c, err)
			return
		}
		ttl := time.Duration(min(max(req.ExpiresIn, 0), 1<<31)) * time.Second
		l, tok, err := s.opts.Links.Create(c.Request.Context(), owner(c), id, files.LinkOptions{TTL: ttl, MaxDownloads: req.MaxDownloads, Password: req.Password})
		if err != nil {
			s.error(c, err)
			return
		}
		out := s.linkJSON(l)
		out.URL = s.opts.PublicURL + linksPrefix + tok
		d := map[string]string{"link_id": l.ID.String(), "expires_at": l.ExpiresAt.UTC().Format(time.RFC3339)}
		if l.MaxDownloads != nil {
			d["max_downloads"] = strconv.Itoa(*l.MaxDownloads)
		}
		s.record(c, AuditLinkCreate, id.String(), d)
		c.Header("Cache-Control", "no-store")
		c.Header("Location", "/v1/files/"+id.String()+"/links/"+l.ID.String())
		c.JSON(http.StatusCreated, out)
	}
}

func (s *Server) handleRevokeLink() gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := fileID(c)
		linkID, err2 := uuid.Parse(c.Param("link_id"))
		if err != nil || err2 != nil || s.opts.Links == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		if err := s.opts.Links.Revoke(c.Request.Context(), owner(c), id, linkID); err != nil {
			s.error(c, err)
			return
		}
		s.record(c, AuditLinkRevoke, id.String(), map[string]string{"link_id": linkID.String()})
		c.Status(http.StatusNoContent)
	}
}

// handleListLinks lists the caller's links, all of them (GET /v1/links) or one file's
// (GET /v1/files/{id}/links), newest first, paged like files.
func (s *Server) handleListLinks(perFile bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		var fid *uuid.UUID
		if perFile {
			id, err := fileID(c)
			if err != nil {
				s.error(c, err)
				return
			}
			if !s.ownFile(c, id) {
				return
			}
			fid = &id
		}
		if s.opts.Links == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		servePage(s, c, "links", func(ctx context.Context, opts files.ListOptions) ([]files.Link, string, error) {
			page, err := s.opts.Links.List(ctx, owner(c), fid, opts)
			return page.Links, page.NextCursor, err
		}, s.linkJSON)
	}
}

// handleLinkDownload serves a file to whoever holds a valid link (its signed token, or its
// short id when short is set) and its password, if it has one, without an Authorization
// header, with the same Range, ETag and conditional behaviour as the authenticated download.
// Before a byte is sent, the bytes the response will carry are taken from the link's budget
// (planLinkResponse), so no mix of ranges, HEADs and nodes serves more than the budget.
func (s *Server) handleLinkDownload(short bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		// The token is the credential: keep it out of the logs and of Referer headers.
		c.Header("Referrer-Policy", "no-referrer")
		if s.opts.Links == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		req := files.LinkRequest{Password: c.GetHeader(linkPasswordHeader), Plan: func(f files.File) (int64, bool) {
			return planLinkResponse(c.Request, f)
		}}
		if short {
			req.ShortID = c.Param("short_id")
		} else {
			req.Token = c.Param("token")
		}
		f, blob, err := s.opts.Links.Open(c.Request.Context(), req)
		if err != nil {
			s.error(c, err)
			return
		}
		defer blob.Close()
		serveBlob(c, f, blob, "private, no-store")
		var details map[string]string
		if li, ok := s.opts.Links.(linkIdentifier); ok {
			if id, ok := li.LinkID(c.Param("token")); ok {
				details = map[string]string{"link_id": id.String()}
			}
		}
		s.recordDownload(c, f, "link", details)
	}
}

// handleLinkInfo answers what a short link's page shows before the download: the file's
// name, size and type, and the link's expiry. It takes nothing from the budget, and asks the
// password like a download.
func (s *Server) handleLinkInfo() gin.HandlerFunc {
	type response struct {
		Name        string    `json:"name"`
		Size        int64     `json:"size"`
		ContentType string    `json:"content_type"`
		SHA256      string    `json:"sha256"`
		ExpiresAt   time.Time `json:"expires_at"`
		DownloadURL string    `json:"download_url"`
	}
	return func(c *gin.Context) {
		c.Header("Referrer-Policy", "no-referrer")
		if s.opts.Links == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		l, f, err := s.opts.Links.Stat(c.Request.Context(), files.LinkRequest{ShortID: c.Param("short_id"), Password: c.GetHeader(linkPasswordHeader)})
		if err != nil {
			s.error(c, err)
			return
		}
		c.Header("Cache-Control", "private, no-store")
		c.JSON(http.StatusOK, response{Name: f.Name, Size: f.Size, ContentType: f.ContentType, SHA256: toJSON(f).SHA256,
			ExpiresAt: l.ExpiresAt, DownloadURL: s.opts.PublicURL + shortLinksPrefix + l.ShortID})
	}
}

// planLinkResponse decides what a link response for f will carry, and rewrites r so that
// http.ServeContent does exactly that and never more: the whole file, one range, or no body
// (a HEAD, a 304 revalidation, a 416). It returns the bytes of the body and whether they
// start at byte 0 (a download, rather than a resume). Multiple ranges, a stale or dated
// If-Range, and any Range it does not parse become the whole file, as RFC 9110 allows.
func planLinkResponse(r *http.Request, f files.File) (n int64, fresh bool) {
	h := r.Header
	tag := etag(f.SHA256)
	if r.Method != http.MethodGet {
		return 0, false
	}
	if inm := h.Get("If-None-Match"); inm != "" {
		for _, t := range strings.Split(inm, ",") {
			if t = strings.TrimPrefix(strings.TrimSpace(t), "W/"); t == tag || t == "*" {
				// Leave http.ServeContent no other reading than 304.
				h.Set("If-None-Match", tag)
				return 0, false
			}
		}
		h.Del("If-None-Match") // a body follows: no later reading may turn it into a 304 we did not plan
	}
	start, end, ok := singleRange(h.Get("Range"), f.Size)
	if ir := h.Get("If-Range"); ir != "" && ir != tag {
		ok = false // stale, or a date: the whole file
	}
	h.Del("If-Range")
	switch {
	case !ok:
		h.Del("Range")
		return max(f.Size, 1), true // a zero-byte file's download still counts (as one byte)
	case start >= f.Size:
		h.Set("Range", "bytes="+strconv.FormatInt(f.Size, 10)+"-") // 416, no file bytes
		return 0, false
	}
	h.Set("Range", "bytes="+strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(end, 10))
	return end - start + 1, start == 0
}

// singleRange resolves a Range field of exactly one byte range against size. ok is false for
// anything else (none, several, malformed), which the caller serves as the whole file. A
// start at or past size is returned as is (unsatisfiable).
func singleRange(field string, size int64) (start, end int64, ok bool) {
	spec, found := strings.CutPrefix(field, "bytes=")
	if !found || strings.Contains(spec, ",") || len(field) > maxRangeHeader || size == 0 {
		return 0, 0, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if !found {
		return 0, 0, false
	}
	num := func(s string) (int64, bool) {
		if s == "" || strings.TrimLeft(s, "0123456789") != "" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	if a == "" { // suffix: the last b bytes
		n, ok := num(b)
		switch {
		case !ok:
			return 0, 0, false
		case n == 0:
			return size, size, true
		}
		return max(size-n, 0), size - 1, true
	}
	start, ok = num(a)
	if !ok {
		return 0, 0, false
	}
	if start >= size {
		return start, start, true
	}
	end = size - 1
	if b != "" {
		e, ok := num(b)
		if !ok || e < start {
			return 0, 0, false
		}
		end = min(e, size-1)
	}
	return start, end, true
}

// shortLinksPrefix starts the path of a short link, whose next segment is its id.
const shortLinksPrefix = "/v1/s/"
