package main

import (
	"strings"
	"testing"
	"time"
)

// TestRepeatedAnswersJudgeNothing: a run that sent answers again (more than
// -answer-requests were needed) measured refusals and retries, not calls:
// its throughput and p99 rows say so and judge nothing.
func TestRepeatedAnswersJudgeNothing(t *testing.T) {
	size := func(repeats int64) *Report {
		return &Report{Sizes: []*SizeReport{{N: 1_000_000, Ratio: 0.85, AnswerRepeats: repeats,
			Serve:    &loadResult{Requests: 600_000, Throughput: 20_000, P99: 5 * time.Millisecond},
			Baseline: &loadResult{Requests: 700_000, Throughput: 23_500, P99: 4 * time.Millisecond}}}}
	}
	for _, repeats := range []int64{0, 250_000} {
		for _, tg := range evaluate(size(repeats)) {
			if !strings.HasPrefix(tg.Name, "answer throughput") && !strings.HasPrefix(tg.Name, "answer p99") {
				continue
			}
			switch {
			case repeats == 0 && tg.Status != "PASS":
				t.Errorf("%s without repeats: %s %s", tg.Name, tg.Status, tg.Measured)
			case repeats > 0 && (tg.Status != "n/a" || !strings.Contains(tg.Measured, "raise -answer-requests")):
				t.Errorf("%s with repeats: %s %q, want n/a and a hint", tg.Name, tg.Status, tg.Measured)
			}
		}
	}
}

// TestAnswerRequestsFollowTheLoad: longer runs sign enough answers that
// none is sent twice; the default run keeps its 300,000.
func TestAnswerRequestsFollowTheLoad(t *testing.T) {
	cfg := DefaultConfig()
	if got := answerRequestsFor(cfg); got != 300_000 {
		t.Errorf("default run: %d answers, want 300000", got)
	}
	cfg.Duration = 60 * time.Second
	if got := answerRequestsFor(cfg); got != 25_000*62 {
		t.Errorf("60 s run: %d answers, want %d", got, 25_000*62)
	}
}
