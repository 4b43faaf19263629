package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/cofferhq/coffer/pkg/problem"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

// TestListSort: GET /v1/files takes sort and order in the flat and the level listing, pages
// with the sort's cursor, refuses a bad value with 400 invalid_sort, and a cursor of another
// sort with 400 invalid_request.
func TestListSort(t *testing.T) {
	st := newStack(t)
	s := st.server(func(o *Options) { o.Folders = files.NewFolders(st.db, nil) })
	st.upload("user", "d/big.txt", []byte("0123456789"))
	st.upload("user", "d/small.txt", []byte("0"))
	st.upload("user", "d/mid.txt", []byte("01234"))
	st.upload("user", "d/sub/x.txt", []byte("x"))
	type page struct {
		Files []struct {
			Name string `json:"name"`
		} `json:"files"`
		Folders []struct {
			Name string `json:"name"`
		} `json:"folders"`
		Next *string `json:"next_cursor"`
	}
	walk := func(url string) []string {
		t.Helper()
		var got []string
		cursor := ""
		for range 10 {
			rec := call(t, s, "GET", url+cursor, "user", nil, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("%s: %d %s", url, rec.Code, rec.Body)
			}
			p := decodeJSON[page](t, rec)
			for _, f := range p.Folders {
				got = append(got, f.Name)
			}
			for _, f := range p.Files {
				got = append(got, f.Name)
			}
			if p.Next == nil {
				return got
			}
			cursor = "&cursor=" + *p.Next
		}
		t.Fatal("no end")
		return nil
	}
	if got, want := walk("/v1/files?delimiter=/&prefix=d/&limit=1&sort=size&order=desc"), []string{"d/sub/", "d/big.txt", "d/mid.txt", "d/small.txt"}; !slices.Equal(got, want) {
		t.Errorf("level by size desc: %q, want %q", got, want)
	}
	if got, want := walk("/v1/files?prefix=d/&limit=2&sort=size"), []string{"d/small.txt", "d/sub/x.txt", "d/mid.txt", "d/big.txt"}; len(got) != 4 || got[3] != want[3] || got[2] != want[2] {
		t.Errorf("flat by size: %q, want %q (the two 1-byte files by id)", got, want)
	}
	for _, q := range []string{"sort=date", "sort=SIZE", "order=up", "sort=size&order=", "sort=size&order=descending"} {
		for _, base := range []string{"/v1/files?", "/v1/files?delimiter=/&", "/v1/files?shared=true&sort=size&"} {
			if q == "sort=size&order=" && base != "/v1/files?shared=true&sort=size&" {
				continue // an empty order is the default
			}
			rec := call(t, s, "GET", base+q, "user", nil, nil)
			var p problem.Details
			json.Unmarshal(rec.Body.Bytes(), &p)
			if rec.Code != http.StatusBadRequest || p.Code != codeInvalidSort {
				t.Errorf("%s%s: %d %s, want 400 %s", base, q, rec.Code, rec.Body, codeInvalidSort)
			}
		}
	}
	if rec := call(t, s, "GET", "/v1/files?q=txt&sort=size", "user", nil, nil); rec.Code != http.StatusBadRequest {
		t.Errorf("search by size: %d, want 400", rec.Code)
	}
	rec := call(t, s, "GET", "/v1/files?delimiter=/&prefix=d/&limit=1&sort=size", "user", nil, nil)
	next := decodeJSON[page](t, rec).Next
	if next == nil {
		t.Fatalf("no cursor: %s", rec.Body)
	}
	for _, other := range []string{"&sort=modified", "&sort=size&order=desc", ""} {
		rec := call(t, s, "GET", "/v1/files?delimiter=/&prefix=d/&limit=1&cursor="+*next+other, "user", nil, nil)
		var p problem.Details
		json.Unmarshal(rec.Body.Bytes(), &p)
		if rec.Code != http.StatusBadRequest || p.Code != codeInvalidRequest {
			t.Errorf("size cursor with %q: %d %s, want 400 invalid_request", other, rec.Code, rec.Body)
		}
	}
}
