package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Figures, as named in the tables.
const (
	figSmallRPS  = "4 KiB GET, req/s (wrk -t1 -c32)"
	figSmallP99  = "4 KiB GET, p99 ms"
	figSmallCPU  = "4 KiB GET, server CPU µs/request"
	figBigGet    = "large GET, MB/s (one stream)"
	figUpload    = "large upload, MB/s"
	figRSSUpload = "peak RSS of the file node, one large upload, MiB"
	figRSSConc   = "peak RSS of the file node, concurrent uploads, MiB"
	figJWKS      = "JWKS fetches seen by auth during the 4 KiB GET runs"
	figListP50   = "list 50 newest at 1M rows, p50 ms"
	figListP99   = "list 50 newest at 1M rows, p99 ms"
)

// ratio is one line of the ratio table: subject against reference on a figure, with the
// floor and goal (the target) of docs/PERFORMANCE.md (0: reported, not a target). lower marks
// figures where less is better (latency).
type ratio struct {
	Figure, Subject, Reference string
	Floor, Goal                float64
	Lower                      bool
}

// ratios is the report, one line each; a line shows once both its series have samples
// (b.res.add(figure, subject, v) in a phase, run by run, peers interleaved). To add a figure:
// a phase that adds both series, and a line here.
var ratios = []ratio{
	// Disk node, small downloads (issue 23: ≥ 0.5× without the node cache).
	{Figure: figSmallRPS, Subject: subjCoffer, Reference: subjServeFile, Floor: 0.25, Goal: 0.5},
	{Figure: figSmallRPS, Subject: subjCofferCache, Reference: subjServeFile, Floor: 0.5, Goal: 0.7},
	{Figure: figSmallCPU, Subject: subjCofferCache, Reference: subjServeFile, Lower: true},
	{Figure: figSmallRPS, Subject: subjCoffer, Reference: subjTusd, Goal: 2},
	{Figure: figSmallRPS, Subject: subjCoffer, Reference: subjNginx},
	{Figure: figSmallP99, Subject: subjCoffer, Reference: subjNginx, Floor: 10, Goal: 3, Lower: true},
	{Figure: figSmallCPU, Subject: subjCoffer, Reference: subjServeFile, Lower: true},
	// Disk node, large downloads.
	{Figure: figBigGet, Subject: subjCoffer, Reference: subjNginx, Floor: 0.9, Goal: 1},
	{Figure: figBigGet, Subject: subjCoffer, Reference: subjServeFile, Floor: 0.9, Goal: 1},
	// Disk node, 1 GiB upload against the bare durable PUT (issue 23: ≥ 0.9×, direct and tus).
	{Figure: figUpload, Subject: subjCoffer, Reference: subjPut, Floor: 0.6, Goal: 0.9},
	{Figure: figUpload, Subject: subjCofferTus, Reference: subjPut, Floor: 0.6, Goal: 0.9},
	{Figure: figUpload, Subject: subjCoffer, Reference: subjDD},
	{Figure: figUpload, Subject: subjPut, Reference: subjDD},
	{Figure: figUpload, Subject: subjCoffer, Reference: subjTusd},
	// S3 node against the same versitygw read and written directly (issue 23: 0.9 / 0.8 / 0.9).
	{Figure: figBigGet, Subject: subjCofferS3, Reference: subjVersity, Floor: 0.7, Goal: 0.9},
	{Figure: figBigGet, Subject: subjCofferS3Redirect, Reference: subjVersity, Floor: 0.7, Goal: 0.9},
	{Figure: figSmallRPS, Subject: subjCofferS3, Reference: subjVersity, Floor: 0.5, Goal: 0.8},
	{Figure: figSmallRPS, Subject: subjCofferS3Cache, Reference: subjVersity, Floor: 0.5, Goal: 0.8},
	{Figure: figSmallCPU, Subject: subjCofferS3Cache, Reference: subjCofferS3, Lower: true},
	{Figure: figUpload, Subject: subjCofferS3, Reference: subjVersityPut, Floor: 0.7, Goal: 0.9},
}

type series struct {
	Figure, Subject string
	Samples         []float64
}

// results collects samples in the order they were taken.
type results struct {
	set    settings
	start  time.Time
	series []*series
	notes  map[string]string
}

func newResults(set settings) *results {
	return &results{set: set, start: time.Now(), notes: map[string]string{}}
}

func (r *results) add(figure, subject string, v float64) {
	for _, s := range r.series {
		if s.Figure == figure && s.Subject == subject {
			s.Samples = append(s.Samples, v)
			return
		}
	}
	r.series = append(r.series, &series{Figure: figure, Subject: subject, Samples: []float64{v}})
}

func (r *results) samples(figure, subject string) []float64 {
	for _, s := range r.series {
		if s.Figure == figure && s.Subject == subject {
			return s.Samples
		}
	}
	return nil
}

func (r *results) note(figure, text string) { r.notes[figure] = text }

// stats is a median with the spread of the runs.
type stats struct {
	Median, Min, Max float64
	N                int
}

func statsOf(v []float64) stats {
	if len(v) == 0 {
		return stats{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stats{Median: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// pairRatios divides the samples run by run: the peers of one run shared its conditions.
func pairRatios(a, b []float64) []float64 {
	var out []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}

type ratioJSON struct {
	ratio
	Ratio stats
	Met   string // "goal", "floor", "no", or "" (no target)
}

func (r *results) ratioRows() []ratioJSON {
	var out []ratioJSON
	for _, q := range ratios {
		rs := pairRatios(r.samples(q.Figure, q.Subject), r.samples(q.Figure, q.Reference))
		if len(rs) == 0 {
			continue
		}
		row := ratioJSON{ratio: q, Ratio: statsOf(rs)}
		m := row.Ratio.Median
		better := func(limit float64) bool { return limit > 0 && (m >= limit && !q.Lower || m <= limit && q.Lower) }
		switch {
		case q.Goal == 0 && q.Floor == 0:
		case better(q.Goal):
			row.Met = "goal"
		case better(q.Floor):
			row.Met = "floor"
		default:
			row.Met = "no"
		}
		out = append(out, row)
	}
	return out
}

func (r *results) write(dir string, out io.Writer) error {
	md := r.markdown()
	doc := map[string]any{
		"date":     r.start.UTC().Format(time.RFC3339),
		"duration": time.Since(r.start).Round(time.Second).String(),
		"machine":  machineLine(),
		"settings": map[string]any{"quick": r.set.Quick, "runs": r.set.Runs, "wrk_duration_s": r.set.WrkDuration.Seconds(),
			"wrk_connections": r.set.WrkConns, "large_get_bytes": r.set.BigGet, "upload_bytes": r.set.Upload,
			"concurrent_uploads": r.set.Concurrent, "concurrent_upload_bytes": r.set.ConcSize},
		"figures": r.figureRows(),
		"ratios":  r.ratioRows(),
		"notes":   r.notes,
	}
	js, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Fprint(out, md)
	fmt.Fprintf(out, "\n(written to %s and %s)\n", filepath.Join(dir, "results.md"), filepath.Join(dir, "results.json"))
	return nil
}

type figureJSON struct {
	Figure, Subject string
	Stats           stats
	Samples         []float64
}

func (r *results) figureRows() []figureJSON {
	var out []figureJSON
	for _, s := range r.series {
		out = append(out, figureJSON{Figure: s.Figure, Subject: s.Subject, Stats: statsOf(s.Samples), Samples: s.Samples})
	}
	return out
}

func (r *results) markdown() string {
	var b strings.Builder
	mode := "full"
	if r.set.Quick {
		mode = "quick (BENCH_QUICK=1)"
	}
	fmt.Fprintf(&b, "# Coffer bench, %s\n\n", r.start.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Machine: %s. Mode: %s, %d runs per figure, peers interleaved; wrk -t1 -c%d -d%v; large GET %d MiB, "+
		"large upload %d MiB, %d concurrent uploads of %d MiB.\n\n",
		machineLine(), mode, r.set.Runs, r.set.WrkConns, r.set.WrkDuration, r.set.BigGet>>20, r.set.Upload>>20, r.set.Concurrent, r.set.ConcSize>>20)
	b.WriteString("## Ratios (median of the per-run ratios, min–max)\n\n")
	b.WriteString("| figure | Coffer | reference | ratio | floor | target | met |\n|---|---|---|---|---|---|---|\n")
	for _, q := range r.ratioRows() {
		lim := func(v float64) string {
			if v == 0 {
				return "—"
			}
			if q.Lower {
				return fmt.Sprintf("≤ %g×", v)
			}
			return fmt.Sprintf("≥ %g×", v)
		}
		met := q.Met
		if met == "" {
			met = "reported"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f× (%.2f–%.2f) | %s | %s | %s |\n", q.Figure, q.Subject, q.Reference,
			q.Ratio.Median, q.Ratio.Min, q.Ratio.Max, lim(q.Floor), lim(q.Goal), met)
	}
	b.WriteString("\n## Every figure (median, min–max over the runs)\n\n| figure | server | median | min–max | runs |\n|---|---|---|---|---|\n")
	for _, f := range r.figureRows() {
		fmt.Fprintf(&b, "| %s | %s | %s | %s–%s | %d |\n", f.Figure, f.Subject, num(f.Stats.Median), num(f.Stats.Min), num(f.Stats.Max), f.Stats.N)
	}
	if len(r.notes) > 0 {
		b.WriteString("\nNotes:\n")
		keys := make([]string, 0, len(r.notes))
		for k := range r.notes {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "- %s: %s\n", k, r.notes[k])
		}
	}
	return b.String()
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// machineLine names the CPU, cores, memory and the load when the run started.
func machineLine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/(1<<20))
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = ", load average " + strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("%s, %d cores%s, %s/%s%s", cpu, runtime.NumCPU(), mem, runtime.GOOS, runtime.GOARCH, load)
}
