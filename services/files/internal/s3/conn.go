package s3

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// A proxied download of a large object copied every byte twice through the node (in from the
// S3 connection, out to the client's): perf showed the node's CPU in those two copies and the
// TCP work around them, on the same cores as the object store. Linux can move bytes from one
// TCP socket to another without them entering the process (splice(2)), and Go does so by
// itself when a *net.TCPConn is copied to another (TCPConn.ReadFrom), which is where net/http
// hands a response body that is a connection. net/http's client transport never gives out its
// connections, so the GET of a large range is sent on a connection of its own (ConnRange):
// the request is still built and signed by the SDK, and written and its answer parsed by
// net/http (Request.Write, ReadResponse); only the body is left on the connection.

// ErrNoConn is ConnRange's answer when the range cannot come on a connection of its own: a
// TLS endpoint (its bytes must be decrypted here), a proxy, or a store built over another
// client. The caller reads the blob instead.
var ErrNoConn = errors.New("s3: no connection of its own for this endpoint")

// connKey marks a GetObject whose response body is wanted on a connection of its own.
type connKey struct{}

// httpDoer is the SDK's HTTP client (s3.HTTPClient).
type httpDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// connClient is the SDK's HTTP client: next for every request, except a marked GET to a plain
// HTTP endpoint, which it sends on a new connection and answers with a *connBody.
type connClient struct {
	next httpDoer
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// proxy is the transport's proxy choice: a request that would go through one is not
	// sent on a connection of its own.
	proxy func(*http.Request) (*url.URL, error)
	// headerTimeout bounds the request's write and the wait for the response's headers, as
	// the transport's ResponseHeaderTimeout does for other requests.
	headerTimeout time.Duration
}

func (c *connClient) Do(req *http.Request) (*http.Response, error) {
	if req.Context().Value(connKey{}) == nil || req.URL.Scheme != "http" || req.Method != http.MethodGet {
		return c.next.Do(req)
	}
	if c.proxy != nil {
		if p, err := c.proxy(req); err != nil || p != nil {
			return c.next.Do(req)
		}
	}
	ctx := req.Context()
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	nc, err := c.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn, ok := nc.(*net.TCPConn)
	if !ok {
		nc.Close()
		return c.next.Do(req)
	}
	// Reads and writes on the connection stop when the download's request ends.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		conn.Close()
		return nil, err
	}
	// One exchange per connection: the server closes it after the body, and nothing is
	// left to drain when a client leaves early.
	req.Close = true
	if err := conn.SetDeadline(time.Now().Add(c.headerTimeout)); err != nil {
		return fail(err)
	}
	if err := req.Write(conn); err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(conn, 4<<10)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fail(err)
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		resp.Body.Close()
		return fail(err)
	}
	body := &connBody{conn: conn, br: br, left: resp.ContentLength, stop: stop}
	if resp.StatusCode/100 != 2 || resp.ContentLength < 0 || len(resp.TransferEncoding) > 0 {
		// An error document or a framing the body cannot be taken from: read as parsed.
		resp.Body = struct {
			io.Reader
			io.Closer
		}{resp.Body, body}
		return resp, nil
	}
	resp.Body = body
	return resp, nil
}

// connBody is the body of a response on a connection of its own: the bytes read with the
// headers (br's buffer), then the connection itself.
type connBody struct {
	conn *net.TCPConn
	br   *bufio.Reader
	left int64 // bytes of the body not yet read or taken
	stop func() bool
}

func (b *connBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	var n int
	var err error
	if b.br.Buffered() > 0 {
		n, err = b.br.Read(p)
	} else {
		n, err = b.conn.Read(p)
	}
	b.left -= int64(n)
	if err == io.EOF && b.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *connBody) Close() error {
	b.stop()
	return b.conn.Close()
}

// take hands over the rest of the body: the part already read off the connection, and the
// connection the remainder arrives on, limited to it.
func (b *connBody) take() ([]byte, *io.LimitedReader) {
	head, _ := b.br.Peek(int(min(int64(b.br.Buffered()), b.left)))
	rest := &io.LimitedReader{R: b.conn, N: b.left - int64(len(head))}
	b.left = 0
	return head, rest
}

// ConnRange implements the file service's spliceable blob: the next n bytes of the object,
// from a ranged GET on a connection of its own, as the part that came with the response's
// headers and a reader of the connection limited to the rest. The caller copies both to the
// client (net/http splices the connection), then calls release. The blob's position moves
// past the n bytes. ErrNoConn (or any error) leaves the blob as it was: read it instead.
func (b *blob) ConnRange(n int64) (head []byte, rest *io.LimitedReader, release func(), err error) {
	if !b.s.conns || n <= 0 || b.off+n > b.size {
		return nil, nil, nil, ErrNoConn
	}
	out, err := b.s.api.GetObject(context.WithValue(b.ctx, connKey{}, true), &s3.GetObjectInput{
		Bucket:  aws.String(b.s.bucket),
		Key:     aws.String(b.key),
		Range:   aws.String(fmt.Sprintf("bytes=%d-%d", b.off, b.off+n-1)),
		IfMatch: b.etag, // the same object as the one opened
	})
	if err != nil {
		return nil, nil, nil, mapErr("read", err)
	}
	body, ok := out.Body.(*connBody)
	if !ok || body.left != n {
		out.Body.Close()
		return nil, nil, nil, ErrNoConn
	}
	// The open response (from Open) is not needed past this point.
	b.closeBody()
	head, rest = body.take()
	b.off += n
	return head, rest, func() { body.Close() }, nil
}
