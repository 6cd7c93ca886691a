package cli

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

func TestNewCmdNumbersProvision(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    NumbersProvisionOptions
		wantErr string
	}{
		{name: "Defaults", args: []string{"--country", "gb", "--count", "2"},
			want: NumbersProvisionOptions{Query: maskcall.NumberSearch{Country: "GB", Features: []string{"SMS", "VOICE"}}, Count: 2, Output: "table"}},
		{name: "AllFlags", args: []string{"--country", "US", "--count", "100", "--features", "voice", "--type", "landline", "--no-configure", "-o", "json"},
			want: NumbersProvisionOptions{Query: maskcall.NumberSearch{Country: "US", Features: []string{"VOICE"}, Type: "landline"}, Count: 100, NoConfigure: true, Output: "json"}},
		{name: "CountZero", args: []string{"--country", "GB", "--count", "0"}, wantErr: "--count must be between 1 and 100, got 0"},
		{name: "CountTooMany", args: []string{"--country", "GB", "--count", "101"}, wantErr: "--count must be between 1 and 100"},
		{name: "BadCountry", args: []string{"--country", "XX", "--count", "1"}, wantErr: `unknown country code "XX"`},
		{name: "BadFeature", args: []string{"--country", "GB", "--count", "1", "--features", "fax"}, wantErr: `Unknown number feature "FAX"`},
		{name: "BadType", args: []string{"--country", "GB", "--count", "1", "--type", "mobile"}, wantErr: "--type must be landline, mobile-lvn or toll-free"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, _, _ := TestIO()
			var got *NumbersProvisionOptions
			cmd := NewCmdNumbersProvision(NewFactory(io), func(_ context.Context, o *NumbersProvisionOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(io.Out)
			cmd.SetErr(io.ErrOut)
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.IO, got.Pool = nil, nil
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("opts = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestNewCmdNumbersRelease(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    NumbersReleaseOptions
		wantErr string
	}{
		{name: "Plain", args: []string{"447700900001"}, want: NumbersReleaseOptions{Number: "+447700900001"}},
		{name: "ForceYesDryRun", args: []string{"+44 7700 900001", "--force", "--yes", "--dry-run"},
			want: NumbersReleaseOptions{Number: "+447700900001", Force: true, Yes: true, DryRun: true}},
		{name: "ShortYes", args: []string{"+447700900001", "--force", "-y"}, want: NumbersReleaseOptions{Number: "+447700900001", Force: true, Yes: true}},
		// A national form cannot be read: release has no --country.
		{name: "National", args: []string{"07700900003"}, wantErr: "is not a"},
		{name: "NoNumber", args: nil, wantErr: "accepts 1 arg(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, _, _ := TestIO()
			var got *NumbersReleaseOptions
			cmd := NewCmdNumbersRelease(NewFactory(io), func(_ context.Context, o *NumbersReleaseOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(io.Out)
			cmd.SetErr(io.ErrOut)
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.IO, got.Pool = nil, nil
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("opts = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestNumbersProvisionRun(t *testing.T) {
	tests := []struct {
		name       string
		opts       NumbersProvisionOptions
		wantStatus maskcall.NumberStatus
		wantExit   int
		wantStderr string
	}{
		{name: "Linked", opts: NumbersProvisionOptions{Query: maskcall.NumberSearch{Country: "GB", Features: []string{"SMS", "VOICE"}}, Count: 2, Output: "table"},
			wantStatus: maskcall.NumberActive, wantStderr: "[2/2] +4477009"},
		{name: "NoConfigure", opts: NumbersProvisionOptions{Query: maskcall.NumberSearch{Country: "GB"}, Count: 1, NoConfigure: true, Output: "json"},
			wantStatus: maskcall.NumberUnconfigured, wantStderr: "[1/1]"},
		{name: "TooFewOffered", opts: NumbersProvisionOptions{Query: maskcall.NumberSearch{Country: "GB", Features: []string{"MMS"}}, Count: 1, Output: "table"},
			wantExit: exitError, wantStderr: "Try other --features or --type, or a smaller --count."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			f, io, out, errOut := e.factory()
			opts := tt.opts
			opts.IO, opts.Pool = io, f.NumberPool
			err := numbersProvisionRun(t.Context(), &opts)
			stderr := errOut.String() + userMessage(hintContext{NewCmdNumbersProvision(f, nil)}, err)
			if got := exitFor(err); got != tt.wantExit {
				t.Fatalf("exit %d, want %d: %s", got, tt.wantExit, stderr)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Fatalf("stderr %q, want %q", stderr, tt.wantStderr)
			}
			nums, err := e.db().FindNumbers(t.Context(), maskcall.NumberFilter{}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			owned := e.owned()
			if tt.wantExit != 0 {
				if len(nums) != 0 || len(owned) != 0 {
					t.Fatalf("failed provision left %d pool numbers, %d owned", len(nums), len(owned))
				}
				return
			}
			if len(nums) != opts.Count || len(owned) != opts.Count {
				t.Fatalf("%d in the pool, %d owned, want %d", len(nums), len(owned), opts.Count)
			}
			for _, n := range nums {
				if n.Status != tt.wantStatus || !slices.Contains(owned, n.Number) || !strings.Contains(out.String(), n.Number) {
					t.Fatalf("%s: status %s, owned %v, stdout %q", n.Number, n.Status, owned, out)
				}
			}
			if opts.Output == outputJSON {
				var got []maskcall.Number
				if err := json.Unmarshal([]byte(out.String()), &got); err != nil || len(got) != opts.Count {
					t.Fatalf("stdout is not the numbers as JSON: %v %q", err, out)
				}
			}
		})
	}
}

func TestNumbersReleaseRun(t *testing.T) {
	// setup rents one number and pairs two conversations on it.
	setup := func(t *testing.T) (*testEnv, string) {
		e := newTestEnv(t)
		e.provision(1)
		e.must("conversation", "create", driver, rider, "--no-sms", "--insight", "none")
		e.must("conversation", "create", "+447700900789", "+447700900111", "--no-sms", "--insight", "none")
		return e, e.owned()[0]
	}
	tests := []struct {
		name        string
		opts        NumbersReleaseOptions
		tty         string
		wantExit    int
		wantStderr  string
		wantRelease bool
	}{
		{name: "InUse", wantExit: exitError,
			wantStderr: "is in use by 2 active conversation(s). End them first, or pass --force to end them and release the number."},
		{name: "ForceNoTerminal", opts: NumbersReleaseOptions{Force: true}, wantExit: exitUsage,
			wantStderr: "There is no terminal to confirm on (release +447700900"},
		{name: "ForceDryRun", opts: NumbersReleaseOptions{Force: true, DryRun: true},
			wantStderr: "and end the 2 active conversation(s) using it; nothing was changed (--dry-run)."},
		{name: "DryRunInUse", opts: NumbersReleaseOptions{DryRun: true}, wantExit: exitError, wantStderr: "is in use by 2"},
		{name: "ForceTerminalNo", opts: NumbersReleaseOptions{Force: true}, tty: "no\n", wantExit: exitError,
			wantStderr: "and end the 2 active conversation(s) using it? [y/N] Nothing was released."},
		{name: "ForceTerminalYes", opts: NumbersReleaseOptions{Force: true}, tty: "y\n", wantStderr: "Released +447700900", wantRelease: true},
		{name: "ForceYes", opts: NumbersReleaseOptions{Force: true, Yes: true}, wantStderr: "Ended conversation cv_", wantRelease: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, num := setup(t)
			f, io, _, errOut := e.factory()
			if tt.tty != "" {
				tty(io, tt.tty)
			}
			opts := tt.opts
			opts.IO, opts.Pool, opts.Number = io, f.NumberPool, num
			err := numbersReleaseRun(t.Context(), &opts)
			stderr := errOut.String() + userMessage(hintContext{NewCmdNumbersRelease(f, nil)}, err)
			if got := exitFor(err); got != tt.wantExit {
				t.Fatalf("exit %d, want %d: %s", got, tt.wantExit, stderr)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Fatalf("stderr %q, want %q", stderr, tt.wantStderr)
			}
			active := len(e.conversations(maskcall.ConversationActive))
			status, owned := e.number(num).Status, slices.Contains(e.owned(), num)
			if tt.wantRelease {
				if status != maskcall.NumberReleased || owned || active != 0 {
					t.Fatalf("after release: status %s, owned %v, %d active", status, owned, active)
				}
			} else if status != maskcall.NumberActive || !owned || active != 2 {
				t.Fatalf("nothing should have changed: status %s, owned %v, %d active", status, owned, active)
			}
		})
	}
}
