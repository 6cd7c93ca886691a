package maskcall

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// cand is an active VOICE and SMS pool number.
func cand(number, country string, uses int) ProxyCandidate {
	return ProxyCandidate{Number: number, Country: country, Features: []string{"VOICE", "SMS"}, Status: NumberActive, ActiveUses: uses}
}

func voiceOnly(c ProxyCandidate) ProxyCandidate {
	c.Features = []string{"VOICE"}
	return c
}

func withStatus(c ProxyCandidate, st NumberStatus) ProxyCandidate {
	c.Status = st
	return c
}

func TestAllocate(t *testing.T) {
	alice := Participant{Number: "+447700900123", Country: "GB", Label: "alice"}
	bob := "+12025550123"
	tests := []struct {
		name    string
		req     AllocationRequest
		want    string
		wantErr string // error code
	}{
		{
			name: "sticky beats local and less used",
			req: AllocationRequest{Sticky: "+12025550100", Candidates: []ProxyCandidate{
				cand("+442079460001", "GB", 0), cand("+12025550100", "US", 9), cand("+442079460000", "GB", 0),
			}},
			want: "+12025550100",
		},
		{
			name: "sticky without the features it now needs is passed over",
			req: AllocationRequest{Sticky: "+12025550100", Needs: []string{"SMS"}, Candidates: []ProxyCandidate{
				cand("+442079460001", "GB", 5), voiceOnly(cand("+12025550100", "US", 0)),
			}},
			want: "+442079460001",
		},
		{
			name: "sticky that is no longer active is passed over",
			req: AllocationRequest{Sticky: "+442079460000", Candidates: []ProxyCandidate{
				cand("+442079460001", "GB", 5), withStatus(cand("+442079460000", "GB", 0), NumberUnconfigured),
			}},
			want: "+442079460001",
		},
		{
			name: "local beats less used",
			req: AllocationRequest{Participant: Participant{Number: "+12025550999", Country: "US"}, Candidates: []ProxyCandidate{
				cand("+442079460000", "GB", 0), cand("+12025550199", "US", 5), cand("+447700900000", "GB", 1),
			}},
			want: "+12025550199",
		},
		{
			name: "least used among local",
			req: AllocationRequest{Candidates: []ProxyCandidate{
				cand("+442079460000", "GB", 3), cand("+447700900009", "GB", 1), cand("+447700900001", "GB", 2), cand("+12025550100", "US", 0),
			}},
			want: "+447700900009",
		},
		{
			name: "least used when none is local",
			req: AllocationRequest{Participant: Participant{Number: "+33612345678", Country: "FR"}, Candidates: []ProxyCandidate{
				cand("+442079460000", "GB", 3), cand("+12025550150", "US", 2), cand("+447700900001", "GB", 4),
			}},
			want: "+12025550150",
		},
		{
			name: "tie goes to the lowest number",
			req: AllocationRequest{Candidates: []ProxyCandidate{
				cand("+447700900003", "GB", 1), cand("+447700900001", "GB", 1), cand("+447700900002", "GB", 1),
			}},
			want: "+447700900001",
		},
		{
			name: "single candidate",
			req:  AllocationRequest{Candidates: []ProxyCandidate{cand("+12025550100", "US", 100)}},
			want: "+12025550100",
		},
		{
			name: "proxies the participant already uses are excluded",
			req: AllocationRequest{InUse: []string{"+447700900001", "+447700900002"}, Candidates: []ProxyCandidate{
				cand("+447700900001", "GB", 0), cand("+447700900002", "GB", 0), cand("+12025550100", "US", 7),
			}},
			want: "+12025550100",
		},
		{
			name: "a used proxy is excluded even when sticky",
			req: AllocationRequest{Sticky: "+447700900001", InUse: []string{"+447700900001"}, Candidates: []ProxyCandidate{
				cand("+447700900001", "GB", 0), cand("+447700900002", "GB", 4),
			}},
			want: "+447700900002",
		},
		{
			name: "only active numbers",
			req: AllocationRequest{Candidates: []ProxyCandidate{
				withStatus(cand("+447700900001", "GB", 0), NumberPurchasing),
				withStatus(cand("+447700900002", "GB", 0), NumberUnconfigured),
				withStatus(cand("+447700900003", "GB", 0), NumberReleased),
				cand("+12025550100", "US", 9),
			}},
			want: "+12025550100",
		},
		{
			name: "a voice-only conversation may use a VOICE-only number",
			req: AllocationRequest{Candidates: []ProxyCandidate{
				voiceOnly(cand("+447700900001", "GB", 0)), cand("+447700900002", "GB", 3),
			}},
			want: "+447700900001",
		},
		{
			name: "a texting conversation never gets a number without SMS",
			req: AllocationRequest{Needs: []string{"SMS"}, Candidates: []ProxyCandidate{
				voiceOnly(cand("+447700900001", "GB", 0)), cand("+12025550100", "US", 3),
			}},
			want: "+12025550100",
		},
		{
			name: "features compare case-insensitively",
			req: AllocationRequest{Needs: []string{"sms"}, Candidates: []ProxyCandidate{
				{Number: "+447700900001", Country: "GB", Features: []string{"voice", "sms"}, Status: NumberActive},
			}},
			want: "+447700900001",
		},
		{
			name: "every number needs VOICE",
			req: AllocationRequest{Candidates: []ProxyCandidate{
				{Number: "+447700900001", Country: "GB", Features: []string{"SMS"}, Status: NumberActive},
			}},
			wantErr: EEXHAUSTED,
		},
		{
			name: "exhausted: only VOICE-only numbers for a texting conversation",
			req: AllocationRequest{Needs: []string{"SMS"}, Candidates: []ProxyCandidate{
				voiceOnly(cand("+447700900001", "GB", 0)),
			}},
			wantErr: EEXHAUSTED,
		},
		{
			name:    "exhausted: empty pool",
			req:     AllocationRequest{},
			wantErr: EEXHAUSTED,
		},
		{
			name: "exhausted: every number in use",
			req: AllocationRequest{InUse: []string{"+447700900001"}, Candidates: []ProxyCandidate{
				cand("+447700900001", "GB", 1),
			}},
			wantErr: EEXHAUSTED,
		},
		{
			name: "the participant is a pool number",
			req: AllocationRequest{Participant: Participant{Number: "+447700900001", Country: "GB"}, Candidates: []ProxyCandidate{
				cand("+447700900001", "GB", 0), cand("+447700900002", "GB", 0),
			}},
			wantErr: EINVALIDNUMBER,
		},
		{
			name: "the other participant is a pool number, even one not yet active",
			req: AllocationRequest{Other: "+447700900001", Candidates: []ProxyCandidate{
				withStatus(cand("+447700900001", "GB", 0), NumberUnconfigured), cand("+447700900002", "GB", 0),
			}},
			wantErr: EINVALIDNUMBER,
		},
		{
			name: "a released number is no longer the pool's",
			req: AllocationRequest{Other: "+447700900001", Candidates: []ProxyCandidate{
				withStatus(cand("+447700900001", "GB", 0), NumberReleased), cand("+447700900002", "GB", 0),
			}},
			want: "+447700900002",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.req.Participant.Number == "" {
				tt.req.Participant = alice
			}
			if tt.req.Other == "" {
				tt.req.Other = bob
			}
			got, err := Allocate(tt.req)
			if tt.wantErr != "" {
				if ErrorCode(err) != tt.wantErr || got != "" {
					t.Fatalf("Allocate = %q, %v; want code %s", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Allocate = %q, %v; want %s", got, err, tt.want)
			}
			// The choice does not depend on the order of the candidates.
			r := rand.New(rand.NewPCG(1, 2))
			for range 20 {
				req := tt.req
				req.Candidates = slices.Clone(tt.req.Candidates)
				r.Shuffle(len(req.Candidates), func(i, j int) { req.Candidates[i], req.Candidates[j] = req.Candidates[j], req.Candidates[i] })
				if got, _ := Allocate(req); got != tt.want {
					t.Fatalf("Allocate(%v) = %s, want %s", req.Candidates, got, tt.want)
				}
			}
		})
	}
}

func TestAllocate_ExhaustedError(t *testing.T) {
	p := Participant{Number: "+447700900123", Country: "GB", Label: "alice"}
	_, err := Allocate(AllocationRequest{Participant: p, Other: "+12025550123", Needs: []string{"SMS", "sms"},
		Candidates: []ProxyCandidate{voiceOnly(cand("+447700900001", "GB", 0))}})
	var ex *ExhaustedError
	if !errors.As(err, &ex) {
		t.Fatalf("%v does not wrap *ExhaustedError", err)
	}
	if ex.Participant != p || !slices.Equal(ex.Features, []string{"VOICE", "SMS"}) {
		t.Errorf("ExhaustedError = %+v; want alice, [VOICE SMS]", *ex)
	}
	if got, want := ErrorMessage(err), "No pool number with SMS is free for participant alice (+44*******123, GB)."; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	if strings.Contains(err.Error(), p.Number) {
		t.Errorf("message shows the real number: %q", err.Error())
	}

	// Without a label, the position names the participant.
	_, err = Allocate(AllocationRequest{Participant: Participant{Number: "+447700900123"}, Other: "+12025550123", Position: 1})
	if got, want := ErrorMessage(err), "No pool number is free for participant b (+44*******123, unknown country)."; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
}
