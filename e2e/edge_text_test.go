package e2e_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// badURLText is what a client can put in a path segment, a query value or a form field: NUL
// and invalid UTF-8, percent-encoded as a URL carries them.
var badURLText = []string{"%00", "a%00b", "%ff", "%c3%28"}

// badRawText is the same strings as raw bytes, for header values and JSON strings (where a
// NUL is written \u0000).
var badRawText = []string{"\x00", "a\x00b", "\xff", "\xc3\x28"}

// TestNoServerErrorOnBadText is a property over the whole API of both services: with a NUL
// byte or invalid UTF-8 in any one path parameter, query parameter, header, form field or
// JSON field of any operation, neither service answers 5xx nor logs an error. The operations
// and their parameters come from each service's served OpenAPI document (which a unit test in
// each service holds equal to its routes.go), so a new route is walked without a change here.
func TestNoServerErrorOnBadText(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{FilesEnv: map[string]string{"COFFER_FILES_LINK_KEY": newLinkKey()}})
	c := s.client()
	alice := c.newUser("alice", "")
	bob := c.newUser("bob", "")
	fileID := c.upload(alice.Token, "a.txt", []byte("hello")).ID
	link, r := c.createLink(alice.Token, fileID, map[string]int{"expires_in": 3600})
	if r.Status != http.StatusCreated {
		t.Fatalf("link: %d %s", r.Status, r.Body)
	}
	uploadPath, r := c.tus(alice.Token).create(c.files, 5, "u.txt", nil)
	if r.Status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	secret := s.createClient("edge-client", "files:read")
	// A valid value for each path parameter, so that the other slots reach the handler.
	pathValues := map[string]string{
		"id": fileID, "user_id": bob.ID, "link_id": link.ID, "username": "bob",
		"token": link.URL[strings.LastIndex(link.URL, "/")+1:],
	}
	uploadID := uploadPath[strings.LastIndex(uploadPath, "/")+1:]

	for _, svc := range []struct {
		name, base string
		logs       func() string
	}{
		{"files", s.Files[0].URL, s.Files[0].Logs},
		{"auth", s.Auth.URL, s.Auth.Logs},
	} {
		doc := fetchDoc(t, svc.base)
		before := strings.Count(svc.logs(), `"level":"ERROR"`)
		sent := 0
		for _, op := range doc.operations(t) {
			creds := map[string]string{}
			switch {
			case op.security["clientBasic"]:
				creds["Authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte("edge-client:"+secret))
			case op.security["bearer"]:
				creds["Authorization"] = "Bearer " + alice.Token
			}
			values := pathValues
			if strings.HasPrefix(op.path, "/v1/uploads/") {
				values = map[string]string{"id": uploadID}
			}
			for _, slot := range op.slots(creds) {
				for _, req := range slot.requests(op, values, creds) {
					sent++
					status, body := rawRequest(t, svc.base, req)
					if status >= 500 {
						t.Errorf("%s %s with %s: %d %s", svc.name, req.line(), slot, status, body)
					}
				}
			}
		}
		if sent < 50 {
			t.Fatalf("%s: only %d requests sent: the OpenAPI document was not walked", svc.name, sent)
		}
		t.Logf("%s: %d requests", svc.name, sent)
		if logs := svc.logs(); strings.Count(logs, `"level":"ERROR"`) != before {
			t.Errorf("%s logged errors:\n%s", svc.name, strings.Join(regexp.MustCompile(`(?m)^.*"level":"ERROR".*$`).FindAllString(logs, -1), "\n"))
		}
	}
}

// apiDoc is the part of an OpenAPI 3.1 document the walk reads.
type apiDoc struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]schema `json:"schemas"`
	} `json:"components"`
}

type schema struct {
	Ref        string            `json:"$ref"`
	Type       any               `json:"type"`
	Enum       []any             `json:"enum"`
	Required   []string          `json:"required"`
	Properties map[string]schema `json:"properties"`
}

type param struct {
	Name     string `json:"name"`
	In       string `json:"in"`
	Required bool   `json:"required"`
	Schema   schema `json:"schema"`
}

type operation struct {
	method, path string
	params       []param
	bodyType     string // "" for none
	body         schema
	security     map[string]bool
}

func fetchDoc(t *testing.T, base string) apiDoc {
	t.Helper()
	resp, err := http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d apiDoc
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d apiDoc) resolve(s schema) schema {
	if name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/"); ok {
		return d.Components.Schemas[name]
	}
	return s
}

// operations lists every method of every path, with its parameters and request body.
func (d apiDoc) operations(t *testing.T) []operation {
	t.Helper()
	var ops []operation
	for path, item := range d.Paths {
		var common []param
		if raw, ok := item["parameters"]; ok {
			if err := json.Unmarshal(raw, &common); err != nil {
				t.Fatal(err)
			}
		}
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			var o struct {
				Parameters  []param `json:"parameters"`
				RequestBody struct {
					Content map[string]struct {
						Schema schema `json:"schema"`
					} `json:"content"`
				} `json:"requestBody"`
				Security []map[string][]string `json:"security"`
			}
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			op := operation{method: strings.ToUpper(method), path: path, params: append(slices.Clone(common), o.Parameters...), security: map[string]bool{}}
			for _, ct := range []string{"application/json", "application/x-www-form-urlencoded", "application/offset+octet-stream", "application/octet-stream"} {
				if c, ok := o.RequestBody.Content[ct]; ok {
					op.bodyType, op.body = ct, d.resolve(c.Schema)
					break
				}
			}
			for _, req := range o.Security {
				for name := range req {
					op.security[name] = true
				}
			}
			ops = append(ops, op)
		}
	}
	return ops
}

// slot is one place a bad string goes.
type slot struct{ in, name string }

func (s slot) String() string { return s.in + " " + s.name }

func (op operation) slots(creds map[string]string) []slot {
	var out []slot
	for _, p := range op.params {
		out = append(out, slot{p.In, p.Name})
	}
	if op.bodyType == "application/json" || op.bodyType == "application/x-www-form-urlencoded" {
		for name := range op.body.Properties {
			out = append(out, slot{"body", name})
		}
	}
	if creds["Authorization"] != "" {
		out = append(out, slot{"header", "Authorization"})
	}
	return out
}

// rawReq is a request as bytes go on the wire: net/http's client refuses to send a NUL in a
// header, which is exactly what must be tried.
type rawReq struct {
	method, target string
	header         [][2]string
	body           string
}

func (r rawReq) line() string { return r.method + " " + r.target }

// defaultValue is a well-formed value of schema s, so that only the slot under test is bad.
func defaultValue(s schema) any {
	if len(s.Enum) > 0 {
		return s.Enum[0]
	}
	switch s.Type {
	case "integer", "number":
		return 1
	case "boolean":
		return false
	case "array":
		return []any{}
	case "object":
		return map[string]any{}
	}
	return "x"
}

// requests builds the requests that put each bad string in this slot of op.
func (s slot) requests(op operation, pathValues, creds map[string]string) []rawReq {
	bads := badURLText
	if s.in == "header" || s.in == "body" && op.bodyType == "application/json" {
		bads = badRawText
	}
	var out []rawReq
	for _, bad := range bads {
		variants := []string{bad}
		if s.in == "header" && s.name == "Upload-Metadata" { // its values are base64
			variants = append(variants, "filename "+base64.StdEncoding.EncodeToString([]byte(bad)))
		}
		if s.in == "header" && s.name == "Authorization" {
			variants = []string{strings.SplitN(creds["Authorization"], " ", 2)[0] + " " + bad}
		}
		for _, v := range variants {
			out = append(out, op.build(s, v, pathValues, creds))
		}
	}
	return out
}

func (op operation) build(bad slot, badValue string, pathValues, creds map[string]string) rawReq {
	r := rawReq{method: op.method}
	target := op.path
	query := []string{}
	header := map[string]string{}
	for k, v := range creds {
		header[k] = v
	}
	for _, p := range op.params {
		isBad := bad.in == p.In && bad.name == p.Name
		v := fmt.Sprint(defaultValue(p.Schema))
		if p.In == "path" {
			v = url.PathEscape(pathValues[p.Name])
		}
		if !isBad && !p.Required && p.In != "path" {
			continue
		}
		if isBad {
			v = badValue
		}
		switch p.In {
		case "path":
			target = strings.ReplaceAll(target, "{"+p.Name+"}", v)
		case "query":
			if !isBad {
				v = url.QueryEscape(v)
			}
			query = append(query, url.QueryEscape(p.Name)+"="+v)
		case "header":
			header[p.Name] = v
		}
	}
	if len(query) > 0 {
		target += "?" + strings.Join(query, "&")
	}
	if bad.in == "header" && bad.name == "Authorization" {
		header["Authorization"] = badValue
	}
	switch op.bodyType {
	case "application/json":
		obj := map[string]any{}
		for _, name := range op.body.Required {
			obj[name] = defaultValue(op.body.Properties[name])
		}
		raw := map[string]string{}
		if bad.in == "body" {
			obj[bad.name] = "\x01BAD\x01"
			raw["\x01BAD\x01"] = badValue
		}
		b, _ := json.Marshal(obj)
		body := string(b)
		// json.Marshal would repair invalid UTF-8: put the bytes in as they are (a NUL as
		// \u0000, the JSON escape a client sends).
		body = strings.ReplaceAll(body, `"\u0001BAD\u0001"`, `"`+strings.ReplaceAll(badValue, "\x00", `\u0000`)+`"`)
		r.body = body
	case "application/x-www-form-urlencoded":
		var fields []string
		for _, name := range op.body.Required {
			if name != bad.name {
				fields = append(fields, name+"="+url.QueryEscape(fmt.Sprint(defaultValue(op.body.Properties[name]))))
			}
		}
		if bad.in == "body" {
			fields = append(fields, bad.name+"="+badValue)
		}
		r.body = strings.Join(fields, "&")
	case "application/offset+octet-stream", "application/octet-stream":
		r.body = "hello"
	}
	if op.bodyType != "" {
		header["Content-Type"] = op.bodyType
	}
	for k, v := range header {
		r.header = append(r.header, [2]string{k, v})
	}
	r.target = target
	return r
}

// rawRequest sends req on a connection of its own and returns the status and body (the status
// 400 net/http answers itself to a header it cannot accept counts like any other).
func rawRequest(t *testing.T, base string, req rawReq) (int, string) {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", req.method, req.target, u.Host)
	for _, h := range req.header {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	fmt.Fprintf(&b, "Content-Length: %s\r\n\r\n%s", strconv.Itoa(len(req.body)), req.body)
	if _, err := conn.Write([]byte(b.String())); err != nil {
		t.Fatalf("%s: %v", req.line(), err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: req.method})
	if err != nil {
		t.Fatalf("%s: no response: %v", req.line(), err)
	}
	defer resp.Body.Close()
	var body strings.Builder
	bufio.NewReader(resp.Body).WriteTo(&body)
	return resp.StatusCode, body.String()
}
