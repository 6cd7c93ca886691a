package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Target is one of the targets, judged on this run.
type Target struct {
	Name     string `json:"name"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	// Status is PASS, MISS, or n/a when this run cannot judge it (a size
	// or phase was not run).
	Status string `json:"status"`
	Gap    string `json:"gap,omitempty"`
}

const mb = 1 << 20

// evaluate judges the targets at the largest and smallest sizes run.
func evaluate(rep *Report) []Target {
	var ts []Target
	add := func(name, goal, measured string, pass bool, known bool, gap string) {
		t := Target{Name: name, Goal: goal, Measured: measured, Status: "n/a"}
		if known {
			t.Status = "MISS"
			if pass {
				t.Status = "PASS"
				gap = ""
			}
			t.Gap = gap
		}
		ts = append(ts, t)
	}
	if len(rep.Sizes) == 0 {
		return ts
	}
	small, large := rep.Sizes[0], rep.Sizes[0]
	for _, s := range rep.Sizes {
		if s.N < small.N {
			small = s
		}
		if s.N > large.N {
			large = s
		}
	}
	at := fmt.Sprintf(" (N=%d)", large.N)

	if s := large.Serve; s != nil && large.Baseline != nil {
		// Answers sent again (more than -answer-requests were needed) are
		// refused or retried, not recorded: cheaper than a call, so such a
		// run cannot judge serve's speed.
		timed := s.Requests > 0 && large.AnswerRepeats == 0
		measured := func(m string) string {
			if large.AnswerRepeats > 0 {
				m += fmt.Sprintf(" with %d answers repeated: raise -answer-requests", large.AnswerRepeats)
			}
			return m
		}
		add("answer throughput vs bare handler"+at, "≥ 60% of baseline",
			measured(fmt.Sprintf("%.0f%% (%.0f/s vs %.0f/s)", 100*large.Ratio, s.Throughput, large.Baseline.Throughput)),
			large.Ratio >= 0.60, timed, fmt.Sprintf("%.0f points short", 100*(0.60-large.Ratio)))
		add("answer p99 latency"+at, "< 10 ms", measured(fmtDur(s.P99)), s.P99 < 10*time.Millisecond, timed,
			fmt.Sprintf("%s over", fmtDur(s.P99-10*time.Millisecond)))
		add("serve resident memory (peak)"+at, "< 150 MB", fmt.Sprintf("%.0f MB", float64(large.ServeMemory.Peak)/mb),
			large.ServeMemory.Peak < 150*mb, large.ServeMemory.Peak > 0,
			fmt.Sprintf("%.0f MB over", float64(large.ServeMemory.Peak-150*mb)/mb))
	}
	if large != small && large.Serve != nil && small.Serve != nil && small.Serve.Throughput > 0 {
		flat := large.Serve.Throughput / small.Serve.Throughput
		norm := 0.0
		if small.Ratio > 0 {
			norm = large.Ratio / small.Ratio
		}
		add(fmt.Sprintf("flat answer cost: N=%d vs N=%d", large.N, small.N), "within 20%",
			fmt.Sprintf("%.0f%% of the throughput (%.0f%% relative to the baseline of each run)", 100*flat, 100*norm),
			flat >= 0.80, true, fmt.Sprintf("%.0f%% slower", 100*(1-flat)))
	}
	if e := large.Events; e != nil {
		add("event webhook"+at, "≥ 2,000 events/s", fmt.Sprintf("%.0f events/s (p99 %s)", e.Throughput, fmtDur(e.P99)),
			e.Throughput >= 2000, true, fmt.Sprintf("%.0f events/s short", 2000-e.Throughput))
	}
	if large != small && large.AllocCLI != nil && small.AllocCLI != nil {
		r := float64(large.AllocCLI.Median) / float64(small.AllocCLI.Median)
		rs := float64(large.AllocStore.Median) / float64(small.AllocStore.Median)
		add(fmt.Sprintf("conversation create: N=%d vs N=%d", large.N, small.N), "≤ 2x",
			fmt.Sprintf("%.2fx (%s vs %s; store alone %.2fx)", r, fmtDur(large.AllocCLI.Median), fmtDur(small.AllocCLI.Median), rs),
			r <= 2, true, fmt.Sprintf("%.2fx over", r-2))
	}
	if st := rep.Startup; st != nil {
		add("maskcall --help", "< 50 ms", fmtDur(st.Help.Median), st.Help.Median < 50*time.Millisecond, true,
			fmtDur(st.Help.Median-50*time.Millisecond)+" over")
		add("maskcall conversation list, empty database", "< 50 ms", fmtDur(st.List.Median), st.List.Median < 50*time.Millisecond, true,
			fmtDur(st.List.Median-50*time.Millisecond)+" over")
	}
	if a := large.API; a != nil && a.Creates != nil {
		c := a.Creates
		add(fmt.Sprintf("API creates, %d clients", a.Clients)+at, "≥ 500/s, p99 < 50 ms",
			fmt.Sprintf("%.0f/s, p99 %s (answers meanwhile %.0f/s)", c.Throughput, fmtDur(c.P99), a.Answers.Throughput),
			c.Throughput >= 500 && c.P99 < 50*time.Millisecond && c.Errors == 0, c.Requests > 0, apiGap(c))
	}
	for _, s := range rep.Sizes {
		if s.Fresh != "" {
			goal := "on the next call"
			if rep.Config.Store == storePostgres {
				goal = "within 100 ms on every replica" // announced by PostgreSQL (fresh's bound)
			}
			add(fmt.Sprintf("CLI create/end effective (N=%d)", s.N), goal, s.Fresh, strings.HasPrefix(s.Fresh, "ok"), true, "")
		}
	}
	return ts
}

// Print writes the report as tables.
func (rep *Report) Print(w io.Writer) {
	m := rep.Machine
	fmt.Fprintf(w, "\nmachine: %d CPUs, %s, %d MB, %s, Linux %s; load average %.2f at start, %.2f at end\n",
		m.CPUs, m.CPUModel, m.MemoryMB, m.Go, m.Kernel, m.LoadStart, m.LoadEnd)
	c := rep.Config
	fmt.Fprintf(w, "store: %s, %d serve replica(s); load: %d connections, generator GOMAXPROCS=%d, %s timed per target in %d rounds after %s warm-up each\n\n",
		c.Store, c.Replicas, c.Concurrency, c.ClientProcs, c.Duration, c.Rounds, c.Warmup)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\tseed\tdb\ttarget\treq/s\tp50\tp99\tmax\tCPU/req\tdb CPU/req\tclient CPU/req\tmachine busy\tmachine/req\terrors\tRSS\tpeak RSS\t")
	for _, s := range rep.Sizes {
		lead := fmt.Sprintf("%d\t%.1fs\t%d MB", s.N, s.SeedSeconds, s.DBBytes>>20)
		row := func(name string, r *loadResult, mem memory) {
			if r == nil {
				return
			}
			rss, peak := "", ""
			if mem.Peak > 0 {
				rss, peak = fmt.Sprintf("%.0f MB", float64(mem.RSS)/mb), fmt.Sprintf("%.0f MB", float64(mem.Peak)/mb)
			}
			dbCPU := "-"
			if r.DBCPUSeconds > 0 {
				dbCPU = fmtDur(r.DBCPUPerRequest)
			}
			busy, perReq := "-", "-"
			if r.MachineCPUSeconds > 0 {
				busy, perReq = fmt.Sprintf("%.0f%%", 100*r.MachineBusy), fmtDur(r.MachinePerRequest)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t\n", lead, name, r.Throughput,
				fmtDur(r.P50), fmtDur(r.P99), fmtDur(r.Max), fmtDur(r.CPUPerRequest), dbCPU, fmtDur(r.ClientCPUPerRequest), busy, perReq, r.Errors, rss, peak)
			lead = "\t\t"
		}
		row("answer: serve", s.Serve, s.ServeMemory)
		row("answer: baseline", s.Baseline, s.BaselineMemory)
		row("event: serve", s.Events, memory{})
		if s.API != nil {
			row("api: POST /v1/conversations", s.API.Creates, memory{})
			row("api: answers meanwhile", s.API.Answers, memory{})
		}
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\tserve/baseline\tload avg\tanswer repeats\tevent repeats\tcreate (CLI)\tcreate (store)\tfresh\t")
	for _, s := range rep.Sizes {
		cli, store := "", ""
		if s.AllocCLI != nil {
			cli = fmt.Sprintf("%s [%s–%s]", fmtDur(s.AllocCLI.Median), fmtDur(s.AllocCLI.Min), fmtDur(s.AllocCLI.Max))
			store = fmt.Sprintf("%s [%s–%s]", fmtDur(s.AllocStore.Median), fmtDur(s.AllocStore.Min), fmtDur(s.AllocStore.Max))
		}
		fmt.Fprintf(tw, "%d\t%.0f%%\t%.1f\t%d\t%d\t%s\t%s\t%s\t\n", s.N, 100*s.Ratio, s.LoadAvg, s.AnswerRepeats, s.EventRepeats, cli, store, s.Fresh)
	}
	tw.Flush()
	if st := rep.Startup; st != nil {
		fmt.Fprintf(w, "\nstart-up (median of %d): --help %s, conversation list on an empty database %s (the run creating it: %s)\n",
			st.Help.Runs, fmtDur(st.Help.Median), fmtDur(st.List.Median), fmtDur(st.ListFirst))
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tgoal\tmeasured\tstatus\tgap")
	for _, t := range rep.Targets {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Goal, t.Measured, t.Status, t.Gap)
	}
	tw.Flush()
	for _, s := range rep.Sizes {
		for _, r := range []struct {
			name string
			res  *loadResult
		}{{"serve answers", s.Serve}, {"baseline", s.Baseline}, {"events", s.Events}, {"api creates", apiCreates(s)}} {
			if r.res != nil && r.res.FirstError != "" {
				fmt.Fprintf(w, "N=%d %s: first error: %s\n", s.N, r.name, r.res.FirstError)
			}
		}
	}
}

// apiGap says what the API create target missed by.
func apiGap(c *loadResult) string {
	var gaps []string
	if c.Throughput < 500 {
		gaps = append(gaps, fmt.Sprintf("%.0f/s short", 500-c.Throughput))
	}
	if c.P99 >= 50*time.Millisecond {
		gaps = append(gaps, "p99 "+fmtDur(c.P99-50*time.Millisecond)+" over")
	}
	if c.Errors > 0 {
		gaps = append(gaps, fmt.Sprintf("%d errors", c.Errors))
	}
	return strings.Join(gaps, ", ")
}

func apiCreates(s *SizeReport) *loadResult {
	if s.API == nil {
		return nil
	}
	return s.API.Creates
}

// fmtDur prints a duration with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + fmtDur(-d)
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d)
	case d < time.Millisecond:
		return trimFloat(float64(d)/1e3) + "µs"
	case d < time.Second:
		return trimFloat(float64(d)/1e6) + "ms"
	}
	return trimFloat(d.Seconds()) + "s"
}

func trimFloat(f float64) string {
	s := fmt.Sprintf("%.3g", f)
	if strings.Contains(s, "e") {
		s = fmt.Sprintf("%.0f", f)
	}
	return s
}
