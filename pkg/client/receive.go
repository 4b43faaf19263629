package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"time"
)

// LinkOptions are what CreateLinkWith asks for.
type LinkOptions struct {
	ExpiresIn    time.Duration // rounded up to a second
	MaxDownloads int           // 0: unlimited; else a budget of that many downloads' bytes
	Password     string        // "": none
}

// CreateLinkWith makes a download link to a file. Its URLs are made absolute.
func (c *Client) CreateLinkWith(ctx context.Context, id string, o LinkOptions) (Link, error) {
	u, err := c.fileURL(id, "/links", nil)
	if err != nil {
		return Link{}, err
	}
	req := linkRequest{ExpiresIn: int64((o.ExpiresIn + time.Second - 1) / time.Second), Password: o.Password}
	if o.MaxDownloads > 0 {
		req.MaxDownloads = &o.MaxDownloads
	}
	var l Link
	if err := c.doJSON(ctx, http.MethodPost, u, true, req, &l); err != nil {
		return Link{}, err
	}
	c.absLink(&l)
	return l, nil
}

// absLink makes a link's URLs whole: a service without a public URL answers with paths.
func (c *Client) absLink(l *Link) {
	for _, p := range []*string{&l.URL, &l.ShortURL} {
		if ref, err := url.Parse(*p); *p != "" && err == nil && !ref.IsAbs() {
			*p = c.files.ResolveReference(ref).String()
		}
	}
}

// LinkPage is one page of links (the OpenAPI schema LinkList).
type LinkPage struct {
	Links      []Link  `json:"links"`
	NextCursor *string `json:"next_cursor"`
}

// SharePage is one page of a file's shares (the OpenAPI schema ShareList).
type SharePage struct {
	Shares     []Share `json:"shares"`
	NextCursor *string `json:"next_cursor"`
}

// Links lists your links, newest first: all of them, or one file's when fileID is set.
func (c *Client) Links(ctx context.Context, fileID string) iter.Seq2[Link, error] {
	return pages(ctx, func(cursor string) ([]Link, *string, error) {
		path := "/v1/links"
		if fileID != "" {
			path = "/v1/files/" + url.PathEscape(fileID) + "/links"
		}
		var p LinkPage
		err := c.getPage(ctx, path, cursor, &p)
		for i := range p.Links {
			c.absLink(&p.Links[i])
		}
		return p.Links, p.NextCursor, err
	})
}

// Shares lists who one of your files is shared with, newest first.
func (c *Client) Shares(ctx context.Context, fileID string) iter.Seq2[Share, error] {
	return pages(ctx, func(cursor string) ([]Share, *string, error) {
		var p SharePage
		err := c.getPage(ctx, "/v1/files/"+url.PathEscape(fileID)+"/shares", cursor, &p)
		return p.Shares, p.NextCursor, err
	})
}

// Request is a file request: an upload-only link into your space (the OpenAPI schema Request).
type Request struct {
	ID          string     `json:"id"`
	Title       string     `json:"title"`
	Message     string     `json:"message"`
	URL         string     `json:"url"`
	PageURL     string     `json:"page_url,omitempty"`
	ExpiresAt   time.Time  `json:"expires_at"`
	MaxFiles    *int       `json:"max_files,omitempty"`
	MaxBytes    *int64     `json:"max_bytes,omitempty"`
	RequireName bool       `json:"require_name"`
	Password    bool       `json:"password"`
	FilesUsed   int        `json:"files_used"`
	BytesUsed   int64      `json:"bytes_used"`
	Open        bool       `json:"open"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
}

// RequestOptions are what CreateRequest asks for (the OpenAPI schema RequestCreate).
type RequestOptions struct {
	Title       string `json:"title"`
	Message     string `json:"message,omitempty"`
	ExpiresIn   int64  `json:"expires_in"` // seconds
	MaxFiles    *int   `json:"max_files,omitempty"`
	MaxBytes    *int64 `json:"max_bytes,omitempty"`
	Password    string `json:"password,omitempty"`
	RequireName bool   `json:"require_name,omitempty"`
}

// RequestPage is one page of file requests (the OpenAPI schema RequestList).
type RequestPage struct {
	Requests   []Request `json:"requests"`
	NextCursor *string   `json:"next_cursor"`
}

// CreateRequest makes a file request; its URL works for anyone, without an account.
func (c *Client) CreateRequest(ctx context.Context, o RequestOptions) (Request, error) {
	u, err := endpoint(c.files, "/v1/requests", nil)
	if err != nil {
		return Request{}, err
	}
	var r Request
	if err := c.doJSON(ctx, http.MethodPost, u, true, o, &r); err != nil {
		return Request{}, err
	}
	c.absRequest(&r)
	return r, nil
}

func (c *Client) absRequest(r *Request) {
	if ref, err := url.Parse(r.URL); err == nil && !ref.IsAbs() {
		r.URL = c.files.ResolveReference(ref).String()
	}
}

// Requests lists your file requests, newest first.
func (c *Client) Requests(ctx context.Context) iter.Seq2[Request, error] {
	return pages(ctx, func(cursor string) ([]Request, *string, error) {
		var p RequestPage
		err := c.getPage(ctx, "/v1/requests", cursor, &p)
		for i := range p.Requests {
			c.absRequest(&p.Requests[i])
		}
		return p.Requests, p.NextCursor, err
	})
}

// RequestFiles lists the files that arrived through one of your requests, newest first.
func (c *Client) RequestFiles(ctx context.Context, id string) iter.Seq2[File, error] {
	return pages(ctx, func(cursor string) ([]File, *string, error) {
		var p Page
		err := c.getPage(ctx, "/v1/requests/"+url.PathEscape(id)+"/files", cursor, &p)
		return p.Files, p.NextCursor, err
	})
}

// CloseRequest stops a request taking uploads, at once.
func (c *Client) CloseRequest(ctx context.Context, id string) (Request, error) {
	u, err := endpoint(c.files, "/v1/requests/"+url.PathEscape(id)+"/close", nil)
	if err != nil {
		return Request{}, err
	}
	var r Request
	if err := c.doJSON(ctx, http.MethodPost, u, true, nil, &r); err != nil {
		return Request{}, err
	}
	c.absRequest(&r)
	return r, nil
}

// DeleteRequest removes a request; the files that arrived stay.
func (c *Client) DeleteRequest(ctx context.Context, id string) error {
	u, err := endpoint(c.files, "/v1/requests/"+url.PathEscape(id), nil)
	if err != nil {
		return err
	}
	return c.doJSON(ctx, http.MethodDelete, u, true, nil, nil)
}

// getPage fetches one page of a listing at path into out.
func (c *Client) getPage(ctx context.Context, path, cursor string, out any) error {
	q := url.Values{"limit": {"200"}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	u, err := endpoint(c.files, path, q)
	if err != nil {
		return err
	}
	return c.doJSON(ctx, http.MethodGet, u, true, nil, out)
}

// pages walks a paged listing, page by page, until its last page or the first error.
func pages[T any](ctx context.Context, page func(cursor string) ([]T, *string, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		cursor := ""
		for {
			items, next, err := page(cursor)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if next == nil || *next == "" || *next == cursor || ctx.Err() != nil {
				return
			}
			cursor = *next
		}
	}
}
