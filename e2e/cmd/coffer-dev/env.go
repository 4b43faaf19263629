package main

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"syscall"

	"github.com/cofferhq/coffer/e2e/harness"
)

// serviceEnv is one service's environment: the runner's defaults with the caller's
// variables of that service laid over them.
type serviceEnv struct {
	name      string            // the variables' prefix, e.g. COFFER_FILES_
	vars      map[string]string // what the service gets
	overrides []string          // names whose value came from the caller, sorted
}

// parseEnviron turns KEY=value pairs into a map; a later pair wins, as in getenv.
func parseEnviron(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// withOverrides returns defaults with every variable of env that starts with prefix laid
// over them: the runner's values are defaults only, so a size limit or a metrics address set
// by hand reaches the service. An empty value counts too (it unsets a runner default, as the
// service reads an empty variable as unset).
func withOverrides(defaults map[string]string, prefix string, env map[string]string) serviceEnv {
	se := serviceEnv{name: prefix, vars: make(map[string]string, len(defaults))}
	for k, v := range defaults {
		se.vars[k] = v
	}
	for k, v := range env {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		se.vars[k] = v
		if d, ok := defaults[k]; !ok || d != v {
			se.overrides = append(se.overrides, k)
		}
	}
	slices.Sort(se.overrides)
	return se
}

// secretish reports whether a variable's value must not be printed.
func secretish(name string) bool {
	for _, s := range []string{"KEY", "SECRET", "PASSWORD", "DATABASE_URL", "TOKEN"} {
		if strings.Contains(name, s) && !strings.HasSuffix(name, "_FILE") {
			return true
		}
	}
	return false
}

// printOverrides names the variables that replaced or added to the runner's defaults; values
// of secrets are not printed.
func printOverrides(w io.Writer, envs ...serviceEnv) {
	var lines []string
	for _, e := range envs {
		for _, k := range e.overrides {
			v := e.vars[k]
			if secretish(k) {
				v = "(set, not shown)"
			}
			lines = append(lines, fmt.Sprintf("    %s=%s", k, v))
		}
	}
	if len(lines) == 0 {
		fmt.Fprintln(w, "  settings: make run's defaults (set COFFER_AUTH_*, COFFER_FILES_*, COFFER_WEB_* to override)")
		return
	}
	fmt.Fprintf(w, "  settings from your environment (over make run's defaults):\n%s\n", strings.Join(lines, "\n"))
}

// printListeners says where the optional operator listeners (metrics, pprof) are, or that
// they are off.
func printListeners(w io.Writer, auth, files, web map[string]string) {
	for _, l := range []struct{ label, addr string }{
		{"auth metrics", auth["COFFER_AUTH_METRICS_ADDR"]},
		{"auth pprof", auth["COFFER_AUTH_PPROF_ADDR"]},
		{"files metrics", files["COFFER_FILES_METRICS_ADDR"]},
		{"files pprof", files["COFFER_FILES_PPROF_ADDR"]},
		{"web metrics", web["COFFER_WEB_METRICS_ADDR"]},
	} {
		if l.addr != "" {
			fmt.Fprintf(w, "  %s: http://%s\n", l.label, l.addr)
		}
	}
	if auth["COFFER_AUTH_METRICS_ADDR"] == "" && files["COFFER_FILES_METRICS_ADDR"] == "" {
		fmt.Fprintln(w, "  metrics and pprof: off (set COFFER_FILES_METRICS_ADDR, COFFER_FILES_PPROF_ADDR, COFFER_AUTH_METRICS_ADDR)")
	}
}

// stopped explains why a service ended on its own: its exit status or signal, and the last
// lines it logged (a configuration error names the bad setting there).
func stopped(what string, p *harness.Process) error {
	why := "exited with status 0"
	var ee *exec.ExitError
	if err := p.ExitErr(); err != nil && errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			why = "killed by signal " + ws.Signal().String()
		} else {
			why = fmt.Sprintf("exited with status %d", ee.ExitCode())
		}
	} else if err != nil {
		why = err.Error()
	}
	return fmt.Errorf("%s stopped: %s; its last log lines:\n%s", what, why, lastLines(p.Logs(), 10))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
