// Package clamd is a client of ClamAV's daemon: it streams bytes to clamd with the INSTREAM
// command over a unix or TCP socket and reads its verdict.
package clamd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Client talks to one clamd.
type Client struct {
	network, addr string
	chunk         int
	timeout       time.Duration
}

// DefaultChunkSize is the INSTREAM chunk size; clamd's StreamMaxLength bounds the whole stream.
const DefaultChunkSize = 256 << 10

// New returns a client of the clamd at addr: "unix:/path/to/clamd.sock", "/path/to/clamd.sock"
// or "tcp:host:port" / "host:port". timeout bounds each read or write on the connection.
func New(addr string, timeout time.Duration) (*Client, error) {
	c := &Client{chunk: DefaultChunkSize, timeout: timeout}
	switch {
	case strings.HasPrefix(addr, "unix:"):
		c.network, c.addr = "unix", strings.TrimPrefix(addr, "unix:")
	case strings.HasPrefix(addr, "/"):
		c.network, c.addr = "unix", addr
	case strings.HasPrefix(addr, "tcp:"):
		c.network, c.addr = "tcp", strings.TrimPrefix(addr, "tcp:")
	default:
		c.network, c.addr = "tcp", addr
	}
	if c.network == "tcp" {
		if _, _, err := net.SplitHostPort(c.addr); err != nil {
			return nil, fmt.Errorf("clamd: %q is not unix:/path or host:port", addr)
		}
	}
	if c.addr == "" {
		return nil, fmt.Errorf("clamd: empty address")
	}
	return c, nil
}

// ErrScanner means clamd answered something other than a verdict (an error of its own,
// such as a stream over its size limit).
var ErrScanner = errors.New("clamd: scan error")

// Scan streams r to clamd and returns the signature name it found, "" when it found nothing.
// An error means there is no verdict.
func (c *Client) Scan(ctx context.Context, r io.Reader) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, c.network, c.addr)
	if err != nil {
		return "", fmt.Errorf("clamd: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	if err := c.write(conn, []byte("zINSTREAM\x00")); err != nil {
		return "", err
	}
	buf := make([]byte, 4+c.chunk)
	for {
		n, rerr := io.ReadFull(r, buf[4:])
		if n > 0 {
			binary.BigEndian.PutUint32(buf[:4], uint32(n))
			if err := c.write(conn, buf[:4+n]); err != nil {
				return "", err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return "", fmt.Errorf("clamd: read file: %w", rerr)
		}
	}
	if err := c.write(conn, []byte{0, 0, 0, 0}); err != nil {
		return "", err
	}
	if c.timeout > 0 {
		_ = conn.SetReadDeadline(time.Now().Add(c.timeout))
	}
	reply, err := bufio.NewReader(io.LimitReader(conn, 4096)).ReadBytes(0)
	if err != nil && !(errors.Is(err, io.EOF) && len(reply) > 0) {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("clamd: read reply: %w", err)
	}
	return parseReply(string(bytes.TrimRight(reply, "\x00\n")))
}

func (c *Client) write(conn net.Conn, b []byte) error {
	if c.timeout > 0 {
		_ = conn.SetWriteDeadline(time.Now().Add(c.timeout))
	}
	if _, err := conn.Write(b); err != nil {
		// clamd closes the stream early when it exceeds StreamMaxLength; its reply says so,
		// but a write error is all this side sees.
		return fmt.Errorf("clamd: write: %w", err)
	}
	return nil
}

// parseReply reads "stream: OK", "stream: NAME FOUND" or "... ERROR".
func parseReply(s string) (string, error) {
	s = strings.TrimPrefix(s, "stream: ")
	switch {
	case s == "OK":
		return "", nil
	case strings.HasSuffix(s, " FOUND"):
		name := strings.TrimSpace(strings.TrimSuffix(s, " FOUND"))
		if name == "" {
			name = "unknown"
		}
		return name, nil
	}
	return "", fmt.Errorf("%w: %.200q", ErrScanner, s)
}

// Ping checks clamd answers PING with PONG.
func (c *Client) Ping(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, c.network, c.addr)
	if err != nil {
		return fmt.Errorf("clamd: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write([]byte("zPING\x00")); err != nil {
		return fmt.Errorf("clamd: %w", err)
	}
	reply, err := bufio.NewReader(conn).ReadString(0)
	if err != nil || strings.TrimRight(reply, "\x00") != "PONG" {
		return fmt.Errorf("clamd: no PONG: %q %v", reply, err)
	}
	return nil
}
