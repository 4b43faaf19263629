package accesstoken

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// errDuplicateMember is returned for a JOSE header or claims set that names a member twice.
var errDuplicateMember = errors.New("duplicate member")

// checkDuplicates refuses a token whose header or claims set repeats a member name.
// encoding/json keeps the last duplicate, another parser may keep the first: such a token means
// different things to different readers (RFC 7515 section 4, RFC 8725 section 3.4), so it is
// refused outright. It runs only on tokens whose signature already verified.
func checkDuplicates(raw string) error {
	header, rest, _ := strings.Cut(raw, ".")
	payload, _, _ := strings.Cut(rest, ".")
	for _, seg := range []string{header, payload} {
		b, err := base64.RawURLEncoding.DecodeString(seg)
		if err != nil {
			return err
		}
		if err := uniqueMembers(b); err != nil {
			return err
		}
	}
	return nil
}

// uniqueMembers reports errDuplicateMember if any object in the JSON document b repeats a
// member name (after unescaping, so "s\u0075b" and "sub" are the same name).
func uniqueMembers(b []byte) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	type frame struct {
		obj   bool
		key   bool // the next token is a member name
		names map[string]struct{}
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			if len(stack) == 0 && errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.key {
			name, _ := tok.(string)
			if tok == json.Delim('}') {
				stack = stack[:len(stack)-1]
				continue
			}
			if _, dup := top.names[name]; dup {
				return errDuplicateMember
			}
			top.names[name] = struct{}{}
			top.key = false
			continue
		}
		if top != nil && top.obj {
			top.key = true // this token is a value; the next is a name
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, key: true, names: map[string]struct{}{}})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'), json.Delim('}'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 && !dec.More() {
			return nil
		}
	}
}
