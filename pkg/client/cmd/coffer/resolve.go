package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cofferhq/coffer/pkg/client"
)

// minIDPrefix is the shortest id prefix a command accepts, as git asks of hashes.
const minIDPrefix = 6

// resolve finds the file a person named on the command line: by full id, by its name (a path
// such as reports/q3.pdf), or by a unique prefix of its id of at least minIDPrefix characters.
// A name or prefix that fits several files is refused with their ids, never guessed.
func resolve(ctx context.Context, c *client.Client, arg string) (client.File, error) {
	if uuidPattern.MatchString(arg) {
		return c.Stat(ctx, strings.ToLower(arg))
	}
	// A name: the caller's own files first, then those shared with the caller.
	var byName []client.File
	for _, shared := range []bool{false, true} {
		for f, err := range c.List(ctx, &client.ListOptions{Prefix: arg, Shared: shared, PageSize: 1000}) {
			if err != nil {
				return client.File{}, err
			}
			if f.Name == arg {
				byName = append(byName, f)
			}
		}
		if len(byName) > 0 {
			break
		}
	}
	switch {
	case len(byName) == 1:
		return byName[0], nil
	case len(byName) > 1:
		return client.File{}, ambiguous(arg, "name", byName)
	}
	if !isIDPrefix(arg) {
		return client.File{}, notFound(arg)
	}
	var byID []client.File
	prefix := strings.ToLower(arg)
	for _, shared := range []bool{false, true} {
		for f, err := range c.List(ctx, &client.ListOptions{Shared: shared, PageSize: 1000}) {
			if err != nil {
				return client.File{}, err
			}
			if strings.HasPrefix(f.ID, prefix) {
				byID = append(byID, f)
			}
		}
	}
	switch len(byID) {
	case 0:
		return client.File{}, notFound(arg)
	case 1:
		return byID[0], nil
	}
	return client.File{}, ambiguous(arg, "id prefix", byID)
}

// isIDPrefix reports whether s could start an id: at least minIDPrefix hex digits (dashes
// where an id has them are fine).
func isIDPrefix(s string) bool {
	if len(s) < minIDPrefix || len(s) > 36 {
		return false
	}
	for i, r := range strings.ToLower(s) {
		dash := i == 8 || i == 13 || i == 18 || i == 23
		if (dash && r != '-') || (!dash && !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f')) {
			return false
		}
	}
	return true
}

// errAmbiguous is a name or id prefix that fits more than one file.
var errAmbiguous = errors.New("ambiguous")

type ambiguousError struct {
	arg, kind string
	files     []client.File
}

func (e *ambiguousError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q is ambiguous: it is the %s of %d files:", e.arg, e.kind, len(e.files))
	for i, f := range e.files {
		if i == 10 {
			fmt.Fprintf(&b, "\n  ... and %d more", len(e.files)-i)
			break
		}
		fmt.Fprintf(&b, "\n  %s  %s", f.ID, f.Name)
	}
	if e.kind == "name" {
		b.WriteString("\nName the file by its id (or an unambiguous start of it) instead.")
	} else {
		b.WriteString("\nType more characters of the id.")
	}
	return b.String()
}

func (e *ambiguousError) Is(target error) bool { return target == errAmbiguous }

func ambiguous(arg, kind string, files []client.File) error {
	return &ambiguousError{arg: arg, kind: kind, files: files}
}

// notFound is the answer for a name or prefix that fits no file: a 404, so the exit code is 4.
func notFound(arg string) error {
	detail := fmt.Sprintf("no file is named %q", arg)
	if isIDPrefix(arg) {
		detail = fmt.Sprintf("no file is named %q or has an id starting with it", arg)
	} else if len(arg) < minIDPrefix && strings.Trim(strings.ToLower(arg), "0123456789abcdef") == "" {
		detail += fmt.Sprintf(" (an id prefix needs at least %d characters)", minIDPrefix)
	}
	return &client.Error{Problem: client.Problem{Status: 404, Code: "not_found", Detail: detail + "; 'coffer ls' lists your files"}}
}

// completeRemote offers the names of remote files and folders for shell completion: the
// entries of the folder being typed, one level at a time, as a shell completes local paths.
func (a *app) completeRemote(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	c, _, err := a.loggedIn()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Second)
	defer cancel()
	folder := ""
	if i := strings.LastIndex(toComplete, "/"); i >= 0 {
		folder = toComplete[:i+1]
	}
	var out []string
	onlyFolders := true
	cursor := ""
	for range 10 { // at most 10,000 entries: completion must answer at once
		p, err := c.ListLevelPage(ctx, folder, cursor, 1000)
		if err != nil {
			break
		}
		for _, f := range p.Folders {
			if strings.HasPrefix(f.Name, toComplete) {
				out = append(out, f.Name)
			}
		}
		for _, f := range p.Files {
			if strings.HasPrefix(f.Name, toComplete) {
				out = append(out, f.Name)
				onlyFolders = false
			}
		}
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	dir := cobra.ShellCompDirectiveNoFileComp
	if onlyFolders && len(out) > 0 {
		dir |= cobra.ShellCompDirectiveNoSpace // a folder: keep typing inside it
	}
	return out, dir
}
