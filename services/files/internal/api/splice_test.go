package api

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// connBlob is a blob whose ranges come off a real TCP connection (as s3's on a plain-HTTP
// endpoint), counting what goes through Read instead.
type connBlob struct {
	*bytes.Reader
	data    []byte
	ranges  atomic.Int32 // ConnRange calls
	readOut atomic.Int64 // bytes read through Read
}

func (b *connBlob) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	b.readOut.Add(int64(n))
	return n, err
}

func (b *connBlob) Close() error { return nil }

func (b *connBlob) ConnRange(n int64) ([]byte, *io.LimitedReader, func(), error) {
	b.ranges.Add(1)
	off, _ := b.Seek(0, io.SeekCurrent)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, err
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write(b.data[off+100 : off+n]) // all but the head, as an S3 server sends it
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, nil, nil, err
	}
	b.Seek(n, io.SeekCurrent)
	return b.data[off : off+100], &io.LimitedReader{R: conn, N: n - 100}, func() { conn.Close() }, nil
}

// TestDownloadSplicesConnRanges: a large download of a blob that offers its bytes on a TCP
// connection is sent from that connection (head first, then the rest, without a Read); a
// small range, and any range to a TLS client, are read as before. The bytes are the same.
func TestDownloadSplicesConnRanges(t *testing.T) {
	data := make([]byte, 3<<20)
	rand.Read(data)
	var blob *connBlob
	r := gin.New()
	r.GET("/f", func(c *gin.Context) {
		blob = &connBlob{Reader: bytes.NewReader(data), data: data}
		serveBlob(c, files.File{Name: "f.bin", Size: int64(len(data)), ContentType: "application/octet-stream",
			SHA256: make([]byte, 32), CreatedAt: time.Unix(0, 0)}, blob, "private")
	})
	for _, tc := range []struct {
		name        string
		tls         bool
		rng         string
		want        []byte
		spliced     bool
		status      int
		readThrough int64
	}{
		{"whole file", false, "", data, true, http.StatusOK, 0},
		{"large range", false, "bytes=1000-2098151", data[1000:2098152], true, http.StatusPartialContent, 0},
		{"small range", false, "bytes=5-104", data[5:105], false, http.StatusPartialContent, 100},
		{"whole file over TLS", true, "", data, false, http.StatusOK, int64(len(data))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(r)
			if tc.tls {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			req, _ := http.NewRequest("GET", srv.URL+"/f", nil)
			if tc.rng != "" {
				req.Header.Set("Range", tc.rng)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != tc.status || !bytes.Equal(got, tc.want) {
				t.Fatalf("%d, %d bytes (%v), equal %v; want %d", resp.StatusCode, len(got), err, bytes.Equal(got, tc.want), tc.status)
			}
			if spliced := blob.ranges.Load() > 0; spliced != tc.spliced || blob.readOut.Load() != tc.readThrough {
				t.Errorf("spliced %v, %d bytes read through the process; want %v, %d", spliced, blob.readOut.Load(), tc.spliced, tc.readThrough)
			}
			if cl := resp.Header.Get("Content-Length"); cl != fmt.Sprint(len(tc.want)) {
				t.Errorf("Content-Length %q, want %d", cl, len(tc.want))
			}
		})
	}
}
