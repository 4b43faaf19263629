// Package configref checks a service's configuration reference, the README's table of
// environment variables, against its config loader: the names it really reads (Check) and the
// defaults it really applies (CheckDefaults), so the table cannot go stale.
package configref

import (
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var envName = regexp.MustCompile("`((?:COFFER_[A-Z0-9_]+)|DATABASE_URL)`")

// Recorder returns a getenv that answers from env and records every name asked for in read.
func Recorder(read map[string]bool, env map[string]string) func(string) string {
	return func(k string) string { read[k] = true; return env[k] }
}

// Check fails tb unless the rows of the configuration table in the README at readmePath whose
// service column names service list exactly the variables in read.
func Check(tb testing.TB, readmePath, service string, read map[string]bool) {
	tb.Helper()
	documented := map[string]bool{}
	for _, row := range rows(tb, readmePath, service) {
		for _, name := range row.names {
			documented[name] = true
		}
	}
	for k := range read {
		if !documented[k] {
			tb.Errorf("the config reads %s; add it to the README's configuration table (service %s)", k, service)
		}
	}
	for k := range documented {
		if !read[k] {
			tb.Errorf("the README's configuration table lists %s for %s, which the config does not read", k, service)
		}
	}
}

// row is one row of the configuration table.
type row struct {
	names []string // the variables it documents (a secret's _FILE form included)
	def   string   // its default cell
}

func rows(tb testing.TB, readmePath, service string) []row {
	tb.Helper()
	b, err := os.ReadFile(readmePath)
	if err != nil {
		tb.Fatal(err)
	}
	var out []row
	for line := range strings.SplitSeq(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || !slices.Contains(strings.Split(strings.ReplaceAll(cells[2], " ", ""), ","), service) {
			continue
		}
		r := row{def: strings.TrimSpace(cells[3])}
		for _, m := range envName.FindAllStringSubmatch(cells[1], -1) {
			r.names = append(r.names, m[1])
		}
		out = append(out, r)
	}
	return out
}

var (
	literal      = regexp.MustCompile("`([^`]*)`")
	constantName = regexp.MustCompile(`^[A-Z][A-Z0-9_]+$`)
)

// CheckDefaults fails tb unless every default the README's table gives for service is the one
// load applies. load reads the configuration from getenv; base is an environment that loads
// without error (the required settings). For each variable whose default cell is a literal
// (`1h`; one per variable when a row lists several), loading with the variable set to it must
// give the same configuration as loading without it; a variable whose default says
// "required" must fail to load when unset. Defaults described in words (or derived from
// another variable) are left to the reader.
func CheckDefaults[C any](tb testing.TB, readmePath, service string, base map[string]string, load func(getenv func(string) string) (C, error)) {
	tb.Helper()
	getenv := func(env map[string]string) func(string) string { return func(k string) string { return env[k] } }
	if base == nil {
		base = map[string]string{}
	}
	want, err := load(getenv(base))
	if err != nil {
		tb.Fatalf("the base environment does not load: %v", err)
	}
	checked := 0
	for _, r := range rows(tb, readmePath, service) {
		names := slices.DeleteFunc(slices.Clone(r.names), func(n string) bool { return strings.HasSuffix(n, "_FILE") })
		if strings.HasPrefix(r.def, "required") && !strings.Contains(r.def, " with ") {
			for _, name := range names {
				env := maps.Clone(base)
				delete(env, name)
				if _, err := load(getenv(env)); err == nil || !strings.Contains(err.Error(), name) {
					tb.Errorf("the README says %s is required, but the %s service loads without it (%v)", name, service, err)
				}
				checked++
			}
			continue
		}
		if strings.ContainsAny(r.def, "<+") || envName.MatchString(r.def) {
			continue // derived from another setting or the listener: described, not literal
		}
		vals := literal.FindAllStringSubmatch(r.def, -1)
		if len(vals) != len(names) || !strings.HasPrefix(r.def, "`") {
			continue
		}
		for i, name := range names {
			if _, set := base[name]; set || constantName.MatchString(vals[i][1]) {
				continue // set by the test, or named (GOMAXPROCS) rather than written
			}
			env := maps.Clone(base)
			env[name] = vals[i][1]
			got, err := load(getenv(env))
			if err != nil || !reflect.DeepEqual(got, want) {
				tb.Errorf("the README gives %s=%s as the %s service's default, but it is not (%s)", name, vals[i][1], service, diff(want, got, err))
			}
			checked++
		}
	}
	if checked == 0 {
		tb.Fatalf("no default of %s checked: is the README's table there?", service)
	}
}

func diff(want, got any, err error) string {
	if err != nil {
		return err.Error()
	}
	w, g := reflect.ValueOf(want), reflect.ValueOf(got)
	if w.Kind() == reflect.Struct {
		for i := range w.NumField() {
			if !w.Type().Field(i).IsExported() {
				continue
			}
			if !reflect.DeepEqual(w.Field(i).Interface(), g.Field(i).Interface()) {
				return fmt.Sprintf("%s: default %v, with the README's value %v", w.Type().Field(i).Name, w.Field(i), g.Field(i))
			}
		}
	}
	return "the configuration differs"
}
