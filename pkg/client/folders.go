package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Folder is a folder of a level listing: the common prefix of the names below it.
type Folder struct {
	Name string `json:"name"` // the full prefix, ending in "/"
}

// ListLevelPage returns one page of the folder prefix ("" for the top, else ending in "/"):
// the folders and files directly in it, in byte order of names, from cursor (empty for the
// first page). pageSize 0 is the service's default.
func (c *Client) ListLevelPage(ctx context.Context, prefix, cursor string, pageSize int) (Page, error) {
	q := url.Values{"delimiter": {"/"}, "prefix": {prefix}}
	return c.listQuery(ctx, q, cursor, pageSize)
}

// SearchPage returns one page of the files in the folder prefix and below whose own name
// contains text (case-insensitively), in name order.
func (c *Client) SearchPage(ctx context.Context, prefix, text, cursor string, pageSize int) (Page, error) {
	q := url.Values{"q": {text}, "prefix": {prefix}}
	return c.listQuery(ctx, q, cursor, pageSize)
}

func (c *Client) listQuery(ctx context.Context, q url.Values, cursor string, pageSize int) (Page, error) {
	if pageSize > 0 {
		q.Set("limit", strconv.Itoa(pageSize))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	u, err := endpoint(c.files, "/v1/files", q)
	if err != nil {
		return Page{}, err
	}
	var p Page
	err = c.doJSON(ctx, http.MethodGet, u, true, nil, &p)
	return p, err
}

// Rename gives a file a new name; a name with folders ("archive/2026/a.pdf") moves it.
func (c *Client) Rename(ctx context.Context, id, name string) (File, error) {
	u, err := c.fileURL(id, "", nil)
	if err != nil {
		return File{}, err
	}
	var f File
	err = c.doJSON(ctx, http.MethodPatch, u, true, renameRequest{Name: name}, &f)
	return f, err
}

// DownloadZip streams a zip of the folder prefix (when ids is empty) or of the files ids to w,
// and returns the bytes written. The service streams it as it reads the files, so there is no
// digest to check: an archive cut short fails here with ErrNetwork.
func (c *Client) DownloadZip(ctx context.Context, prefix string, ids []string, w io.Writer) (int64, error) {
	q := url.Values{"id": ids}
	if len(ids) == 0 {
		q = url.Values{"prefix": {prefix}}
	}
	u, err := endpoint(c.files, "/v1/zip", q)
	if err != nil {
		return 0, err
	}
	resp, err := c.send(ctx, request{method: http.MethodGet, url: u, authed: true, header: http.Header{"Accept": {"application/zip"}}})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.CopyBuffer(w, resp.Body, make([]byte, copyBuffer))
	if err != nil {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		return n, fmt.Errorf("zip: %w: %w", ErrNetwork, err)
	}
	return n, nil
}

// CheckServices makes sure the two URLs are Coffer's: the file service describes itself in
// its /openapi.json, the auth service in its OAuth discovery document. A URL that answers
// otherwise gives ErrNotCoffer with a sentence saying which one is wrong; one that does not
// answer gives ErrNetwork.
func (c *Client) CheckServices(ctx context.Context) error {
	var api struct {
		Info struct{ Title string } `json:"info"`
	}
	u, err := endpoint(c.files, "/openapi.json", nil)
	if err != nil {
		return err
	}
	if err := c.doJSON(ctx, http.MethodGet, u, false, nil, &api); err != nil || !strings.HasPrefix(api.Info.Title, "Coffer file service") {
		if errors.Is(err, ErrNetwork) || ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("%w: %s is not a Coffer file service (it does not describe itself as one); check --server", ErrNotCoffer, c.files)
	}
	var disc struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	if u, err = endpoint(c.auth, "/.well-known/oauth-authorization-server", nil); err != nil {
		return err
	}
	if err := c.doJSON(ctx, http.MethodGet, u, false, nil, &disc); err != nil || disc.Issuer == "" || disc.TokenEndpoint == "" {
		if errors.Is(err, ErrNetwork) || ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("%w: %s is not a Coffer auth service (it has no OAuth discovery document); check --auth-server", ErrNotCoffer, c.auth)
	}
	return nil
}
