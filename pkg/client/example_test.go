package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/cofferhq/coffer/pkg/client"
)

// fakeCoffer is a tiny stand-in for both services, only so the examples run without a
// server. The client's real tests run against the real services (e2e/client_*_test.go).
func fakeCoffer() *httptest.Server {
	var stored []byte
	file := func() client.File {
		sum := sha256.Sum256(stored)
		return client.File{ID: "0b7c5a54-5d6b-4c1e-9a61-2f0f6c1c1f00", Name: "hello.txt", Size: int64(len(stored)), SHA256: hex.EncodeToString(sum[:]), ContentType: "text/plain", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/login", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(client.Token{AccessToken: "a.b.c", TokenType: "Bearer", ExpiresIn: 900, RefreshToken: "r", Scope: client.AllScopes})
	})
	mux.HandleFunc("POST /v1/files", func(w http.ResponseWriter, r *http.Request) {
		stored, _ = io.ReadAll(r.Body)
		sum := sha256.Sum256(stored)
		w.Header().Set("Repr-Digest", client.FormatDigest(sum[:]))
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(file())
	})
	mux.HandleFunc("GET /v1/files", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(client.Page{Files: []client.File{file()}})
	})
	mux.HandleFunc("GET /v1/files/{id}/content", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != file().ID {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(client.Problem{Status: 404, Code: "not_found", Detail: "file not found"})
			return
		}
		sum := sha256.Sum256(stored)
		w.Header().Set("Repr-Digest", client.FormatDigest(sum[:]))
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(stored))
	})
	// JSON unless a handler says otherwise, as the real services answer.
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		mux.ServeHTTP(w, r)
	}))
}

func Example() {
	srv := fakeCoffer()
	defer srv.Close()
	ctx := context.Background()

	c, err := client.New(client.Options{FilesURL: srv.URL, AuthURL: srv.URL})
	if err != nil {
		panic(err)
	}
	if _, err := c.Login(ctx, "alice", "correct horse battery staple"); err != nil {
		panic(err)
	}
	// Streamed; the SHA-256 of what was sent is checked against the stored file's.
	f, err := c.Upload(ctx, "hello.txt", strings.NewReader("hello, coffer\n"), &client.UploadOptions{ContentType: "text/plain"})
	if err != nil {
		panic(err)
	}
	fmt.Println(f.Name, f.Size)

	var buf bytes.Buffer
	if _, err := c.Download(ctx, f.ID, &buf, nil); err != nil { // checked against Repr-Digest
		panic(err)
	}
	fmt.Print(buf.String())
	// Output:
	// hello.txt 14
	// hello, coffer
}

func ExampleClient_List() {
	srv := fakeCoffer()
	defer srv.Close()
	c, _ := client.New(client.Options{FilesURL: srv.URL, AuthURL: srv.URL, Token: client.Token{AccessToken: "a.b.c"}})

	// Pages are fetched as the loop needs them.
	for f, err := range c.List(context.Background(), &client.ListOptions{PageSize: 100}) {
		if err != nil {
			fmt.Println("list:", err)
			return
		}
		fmt.Println(f.ID, f.Name)
	}
	// Output:
	// 0b7c5a54-5d6b-4c1e-9a61-2f0f6c1c1f00 hello.txt
}

func ExampleClient_Download_resume() {
	srv := fakeCoffer()
	defer srv.Close()
	ctx := context.Background()
	c, _ := client.New(client.Options{FilesURL: srv.URL, AuthURL: srv.URL, Token: client.Token{AccessToken: "a.b.c"}})
	f, _ := c.Upload(ctx, "hello.txt", strings.NewReader("hello, coffer\n"), nil)

	// The first 7 bytes arrived before the connection broke; fetch the rest, only if the
	// file is still the one they came from (If-Range), and check the whole file's digest.
	held := []byte("hello, ")
	h := sha256.New()
	h.Write(held)
	var rest bytes.Buffer
	ct, err := c.Download(ctx, f.ID, &rest, &client.DownloadOptions{Offset: int64(len(held)), ETag: `"` + f.SHA256 + `"`, Hash: h})
	if err != nil {
		panic(err)
	}
	fmt.Printf("from %d of %d: %q\n", ct.Offset, ct.Size, rest.String())
	// Output:
	// from 7 of 14: "coffer\n"
}

func ExampleError() {
	srv := fakeCoffer()
	defer srv.Close()
	c, _ := client.New(client.Options{FilesURL: srv.URL, AuthURL: srv.URL, Token: client.Token{AccessToken: "a.b.c"}})

	_, err := c.Download(context.Background(), "no-such-id", io.Discard, nil)
	var e *client.Error
	if errors.Is(err, client.ErrNotFound) && errors.As(err, &e) {
		fmt.Println(e.Status, e.Code, e.Detail)
	}
	// Output:
	// 404 not_found file not found
}
