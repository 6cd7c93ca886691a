package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/phone"
	"github.com/maskcall/maskcall/internal/sandbox"
	"github.com/spf13/cobra"
)

// Settings the sandbox uses when maskcall has none configured, so that
// `maskcall sandbox` and `maskcall numbers ...` work together out of the box.
const (
	sandboxSignatureSecret = "sandbox-signature-secret"
	sandboxApplicationID   = "5ad0b0c4-5a4d-4b1e-9a55-0000000000aa"
	sandboxDefaultListen   = "127.0.0.1:4010"
	sandboxDefaultStateDir = "maskcall-sandbox"
)

// NewCmdSandbox builds `sandbox` and its `call` subcommand.
func NewCmdSandbox(f *Factory) *cobra.Command {
	cmd := NewCmdSandboxRun(f, nil)
	cmd.AddCommand(NewCmdSandboxCall(f, nil))
	cmd.AddCommand(NewCmdSandboxSMS(f, nil))
	return cmd
}

// SandboxOptions are the inputs of `sandbox`.
type SandboxOptions struct {
	IO     *IOStreams
	Config func() (*Config, error)

	Listen          string
	APIKey          string
	APISecret       string
	SignatureSecret string
	ApplicationID   string
	// StateDir keeps the account, the application key, the environment
	// file and the walkthrough's database across restarts; "" with
	// InMemory.
	StateDir string
	InMemory bool
	// Ready, if set, is called once the sandbox listens (tests).
	Ready func(*sandbox.Server)
}

// NewCmdSandboxRun builds `sandbox`.
func NewCmdSandboxRun(f *Factory, runF func(context.Context, *SandboxOptions) error) *cobra.Command {
	opts := &SandboxOptions{IO: f.IO, Config: f.Config}
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run a local Vonage-compatible API to try maskcall without an account",
		Long: `Run a local imitation of the Vonage APIs maskcall uses (Numbers, Number Insight, Identity
Insights, SMS, Voice),
following Vonage's official API definitions, with fictional numbers (UK 07700 900xxx, US 555).
It accepts maskcall's configured vonage.api_key and vonage.api_secret (or fixed sandbox values it
prints), as parameters or HTTP Basic, and prints the environment that points maskcall at it.

It keeps its state in --state-dir (default ./maskcall-sandbox): the numbers the account owns (so a
restart still owns what maskcall's database has in its pool), the application's private key, the
environment file "env" (load it with ". maskcall-sandbox/env" in every terminal that runs maskcall)
and, unless db is configured, the database that environment points maskcall at. Delete the
directory to start afresh; --in-memory keeps nothing.

GET /_sandbox/ lists what it offers: the requests it received (/_sandbox/requests), texts sent
(/_sandbox/sms), faults to inject (/_sandbox/faults)... "maskcall sandbox call" simulates a call.`,
		Example: `  maskcall sandbox
  . maskcall-sandbox/env     # in each other terminal
  maskcall sandbox --listen 127.0.0.1:4010 --api-key mykey --api-secret mysecret
  maskcall sandbox --in-memory`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return sandboxRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Listen, "listen", sandboxDefaultListen, "address to listen on")
	fl.StringVar(&opts.APIKey, "api-key", "", "API key to accept (default vonage.api_key, else "+sandbox.DefaultAPIKey+")")
	fl.StringVar(&opts.APISecret, "api-secret", "", "API secret to accept (default vonage.api_secret, else a fixed sandbox secret)")
	fl.StringVar(&opts.SignatureSecret, "signature-secret", "", "secret to sign webhooks with (default vonage.signature_secret, else a fixed sandbox secret)")
	fl.StringVar(&opts.ApplicationID, "application-id", "", "application id of simulated calls (default vonage.application_id, else a fixed one)")
	fl.StringVar(&opts.StateDir, "state-dir", sandboxDefaultStateDir, "directory keeping the sandbox's account, key, environment file and database")
	fl.BoolVar(&opts.InMemory, "in-memory", false, "keep nothing on disk: a restart forgets every number")
	return cmd
}

// sandboxSetup is a sandbox's settings and the environment that points
// maskcall at it.
type sandboxSetup struct {
	cfg sandbox.Config
	// stateDir is the absolute state directory, "" in memory.
	stateDir string
	// tempKey is the private key file made for this run, "" if configured.
	tempKey string
	env     [][2]string // printed as export lines; secrets included only if the sandbox chose them
}

func resolveSandbox(cfg *Config, opts *SandboxOptions) (*sandboxSetup, error) {
	s := &sandboxSetup{}
	if !opts.InMemory && opts.StateDir != "" {
		dir, err := filepath.Abs(opts.StateDir)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, maskcall.Errorf(maskcall.ECONFIG, "Could not make the sandbox's state directory: %v.", err).
				WithHint("Pick another with --state-dir, or pass --in-memory.")
		}
		s.stateDir = dir
		s.cfg.StateFile = filepath.Join(dir, "state.json")
	}
	pick := func(flag, key, fallback string) (string, bool) {
		if flag != "" {
			return flag, true
		}
		if v := cfg.String(key); v != "" {
			return v, false
		}
		return fallback, true
	}
	var show bool
	c := &s.cfg
	if c.APIKey, show = pick(opts.APIKey, "vonage.api_key", sandbox.DefaultAPIKey); show {
		s.env = append(s.env, [2]string{"VONAGE_API_KEY", c.APIKey})
	}
	if c.APISecret, show = pick(opts.APISecret, "vonage.api_secret", sandbox.DefaultAPISecret); show {
		s.env = append(s.env, [2]string{"VONAGE_API_SECRET", c.APISecret})
	}
	if c.SignatureSecret, show = pick(opts.SignatureSecret, "vonage.signature_secret", sandboxSignatureSecret); show {
		s.env = append(s.env, [2]string{"VONAGE_SIGNATURE_SECRET", c.SignatureSecret})
	}
	if c.ApplicationID, show = pick(opts.ApplicationID, "vonage.application_id", sandboxApplicationID); show {
		s.env = append(s.env, [2]string{"VONAGE_APPLICATION_ID", c.ApplicationID})
	}
	// Voice and Identity Insights want a JWT signed with the application's
	// private key: use the configured key, or the state directory's (made
	// on the first run), or one made for this run.
	keyPath := cfg.String("vonage.private_key")
	var key *rsa.PrivateKey
	switch {
	case keyPath != "":
		pemBytes, err := os.ReadFile(keyPath)
		if err != nil {
			return nil, maskcall.Errorf(maskcall.ECONFIG, "Could not read the private key %s: %v.", keyPath, err)
		}
		if key, err = parseRSAKey(pemBytes); err != nil {
			return nil, maskcall.Errorf(maskcall.ECONFIG, "%s is not an RSA private key in PEM form: %v.", keyPath, err)
		}
	case s.stateDir != "":
		var err error
		keyPath = filepath.Join(s.stateDir, "private.key")
		if key, err = stateKey(keyPath); err != nil {
			return nil, err
		}
		s.env = append(s.env, [2]string{"VONAGE_PRIVATE_KEY_PATH", keyPath})
	default:
		var err error
		if key, keyPath, err = writeSandboxKey(); err != nil {
			return nil, err
		}
		s.tempKey = keyPath
		s.env = append(s.env, [2]string{"VONAGE_PRIVATE_KEY_PATH", keyPath})
	}
	c.ApplicationPublicKey = &key.PublicKey
	c.SMSSignatureMethod = cfg.String("vonage.sms_signature_method") // inbound SMS signed as serve expects
	// The walkthrough's database lives with the sandbox's state, so the two
	// stay in step; a configured db is left alone.
	if s.stateDir != "" && cfg.Source("db") == "default" {
		s.env = append(s.env, [2]string{"MASKCALL_DB", filepath.Join(s.stateDir, "maskcall.db")})
	}
	return s, nil
}

// stateKey reads the application key kept in the state directory, making
// it on the first run.
func stateKey(path string) (*rsa.PrivateKey, error) {
	pemBytes, err := os.ReadFile(path)
	if err == nil {
		key, err := parseRSAKey(pemBytes)
		if err != nil {
			return nil, maskcall.Errorf(maskcall.ECONFIG, "%s is not an RSA private key in PEM form: %v.", path, err).
				WithHint("Delete it (and the directory, to start afresh) and run the sandbox again.")
		}
		return key, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, maskcall.Errorf(maskcall.ECONFIG, "Could not read the sandbox's key %s: %v.", path, err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, maskcall.Errorf(maskcall.ECONFIG, "Could not save the sandbox's key: %v.", err)
	}
	return key, nil
}

func parseRSAKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, fmt.Errorf("no PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if rk, ok := k.(*rsa.PrivateKey); ok {
			return rk, nil
		}
		return nil, fmt.Errorf("not an RSA key")
	}
	return x509.ParsePKCS1PrivateKey(block.Bytes)
}

// writeSandboxKey makes an application key pair for a sandbox run and saves
// the private key (0600) in a new temporary directory, where maskcall can be
// pointed at it. The caller removes the directory.
func writeSandboxKey() (*rsa.PrivateKey, string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, "", err
	}
	dir, err := os.MkdirTemp("", "maskcall-sandbox-")
	if err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, "private.key")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	return key, path, nil
}

func sandboxRun(ctx context.Context, opts *SandboxOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	setup, err := resolveSandbox(cfg, opts)
	if err != nil {
		return err
	}
	if setup.tempKey != "" {
		defer os.RemoveAll(filepath.Dir(setup.tempKey))
	}
	setup.cfg.StateError = func(err error) {
		opts.IO.Statusf("Warning: could not save the sandbox's state (a restart will forget the latest changes): %v.", err)
	}
	sb, err := sandbox.Open(setup.cfg)
	if err != nil {
		return maskcall.Errorf(maskcall.ECONFIG, "Could not load the sandbox's state: %v.", err).
			WithHint("Move " + setup.cfg.StateFile + " aside to start afresh, or pass --in-memory.")
	}
	srv := sandbox.NewServer(opts.Listen, sb)
	if err := srv.Open(); err != nil {
		return maskcall.Errorf(maskcall.ECONFIG, "Could not listen on %s: %v.", opts.Listen, err).
			WithHint("Pick another address with --listen, or stop what uses the port.")
	}
	defer srv.Close()

	env := append([][2]string{
		{"VONAGE_REST_URL", srv.URL()},
		{"VONAGE_API_URL", srv.URL()},
		{"VONAGE_IDENTITY_INSIGHTS_URL", srv.URL()},
	}, setup.env...)
	var lines strings.Builder
	for _, kv := range env {
		fmt.Fprintf(&lines, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	if setup.stateDir == "" {
		opts.IO.Statusf("Vonage sandbox listening on %s (fictional numbers, in-memory state: a restart forgets them).", srv.URL())
		opts.IO.Statusf("Point maskcall at it (paste these in each terminal that runs maskcall):")
	} else {
		envFile := filepath.Join(setup.stateDir, "env")
		if err := os.WriteFile(envFile, []byte(lines.String()), 0o600); err != nil {
			return maskcall.Errorf(maskcall.ECONFIG, "Could not write the sandbox's environment file: %v.", err)
		}
		owned := len(sb.OwnedNumbers())
		opts.IO.Statusf("Vonage sandbox listening on %s (fictional numbers; state in %s, %d owned).", srv.URL(), setup.stateDir, owned)
		opts.IO.Statusf("Point maskcall at it: in each terminal that runs maskcall, run  . %s", displayPath(envFile))
		opts.IO.Statusf("(it holds these lines; delete %s to start afresh):", displayPath(setup.stateDir))
	}
	fmt.Fprint(opts.IO.Out, lines.String())
	opts.IO.Statusf("Requests it received: %s/_sandbox/requests   Texts sent: %s/_sandbox/sms   All it offers: %s/_sandbox/", srv.URL(), srv.URL(), srv.URL())
	opts.IO.Statusf("Simulate a call: maskcall sandbox call --from 447700900123 --to <proxy> (with maskcall serve --listen 127.0.0.1:3000 running)")
	if opts.Ready != nil {
		opts.Ready(srv)
	}
	<-ctx.Done()
	opts.IO.Statusf("Sandbox stopped.")
	return nil
}

// SandboxCallOptions are the inputs of `sandbox call`.
type SandboxCallOptions struct {
	IO     *IOStreams
	Config func() (*Config, error)
	HTTP   func() *http.Client

	Sandbox   string
	Request   sandbox.CallRequest
	Output    string
	Direction string
}

// NewCmdSandboxCall builds `sandbox call`.
func NewCmdSandboxCall(f *Factory, runF func(context.Context, *SandboxCallOptions) error) *cobra.Command {
	opts := &SandboxCallOptions{IO: f.IO, Config: f.Config, HTTP: func() *http.Client { return &http.Client{Timeout: 30 * time.Second} }}
	cmd := &cobra.Command{
		Use:   "call --from NUMBER --to PROXY",
		Short: "Simulate an inbound call: the running sandbox calls the answer webhook as Vonage would",
		Long: `Ask a running sandbox to place a simulated call from a real number to a proxy number. It sends the
answer webhook exactly as Vonage would (signed), prints the NCCO and what Vonage would do with it,
then sends realistic event webhooks (started, ringing, answered, completed) to the event URL.`,
		Example: `  maskcall sandbox call --from 447700900123 --to 447700900000
  maskcall sandbox call --from +447700900123 --to +447700900000 --method POST --answer-url https://example.ngrok.app/webhooks/answer`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			for _, p := range []*string{&opts.Request.From, &opts.Request.To} {
				n, err := phone.Parse(*p, "")
				if err != nil {
					return &flagError{err}
				}
				*p = strings.TrimPrefix(n.E164, "+")
			}
			m := strings.ToUpper(opts.Request.AnswerMethod)
			if m != http.MethodGet && m != http.MethodPost {
				return flagErrorf("--method must be GET or POST, not %q", opts.Request.AnswerMethod)
			}
			opts.Request.AnswerMethod = m
			if opts.Request.EventURL == "" {
				opts.Request.EventURL = strings.TrimSuffix(opts.Request.AnswerURL, "/webhooks/answer") + "/webhooks/event"
			}
			if opts.Sandbox == "" {
				opts.Sandbox = "http://" + sandboxDefaultListen
				if cfg, err := opts.Config(); err == nil {
					if u := cfg.String("vonage.api_url"); u != "" && u != "https://api.nexmo.com" {
						opts.Sandbox = u
					}
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return sandboxCallRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Request.From, "from", "", "the caller's real number (required)")
	fl.StringVar(&opts.Request.To, "to", "", "the proxy number dialled (required)")
	fl.StringVar(&opts.Request.AnswerURL, "answer-url", "http://127.0.0.1:3000/webhooks/answer", "answer webhook of maskcall serve")
	fl.StringVar(&opts.Request.EventURL, "event-url", "", "event webhook (default: the answer URL's /webhooks/event)")
	fl.StringVar(&opts.Request.AnswerMethod, "method", "GET", "how the answer webhook is sent: GET or POST")
	fl.StringVar(&opts.Sandbox, "sandbox", "", "URL of the running sandbox (default vonage.api_url if not Vonage's, else http://"+sandboxDefaultListen+")")
	outputFlag(cmd, &opts.Output)
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func sandboxCallRun(ctx context.Context, opts *SandboxCallOptions) error {
	var res sandbox.CallResult
	raw, err := postSandbox(ctx, opts.HTTP(), opts.Sandbox, "/_sandbox/calls", opts.Request, &res, "place the call")
	if err != nil {
		return err
	}
	if opts.Output == outputJSON {
		if _, err := opts.IO.Out.Write(raw); err != nil {
			return err
		}
	} else {
		printCall(opts.IO, &res)
	}
	return answerFailure(&res)
}

// answerFailure is the error for a simulated call whose answer webhook did
// not give an NCCO: Vonage would have dropped the call.
func answerFailure(res *sandbox.CallResult) error {
	switch {
	case res.AnswerStatus == 0:
		// The last part of the error says why ("connection refused");
		// the rest repeats the request, participants' numbers included.
		reason := res.AnswerError
		if i := strings.LastIndex(reason, ": "); i >= 0 {
			reason = reason[i+2:]
		}
		return maskcall.Errorf(maskcall.EUNAVAILABLE, "Nothing answered the answer webhook at %s (%s), so Vonage would have dropped the call.",
			res.AnswerURL, strings.TrimRight(orDefault(reason, "no reply"), ".")).
			WithHint("Is `maskcall serve` running there? Start it in another terminal with the sandbox's environment (`maskcall serve --listen 127.0.0.1:3000`), or point --answer-url at it.")
	case res.AnswerStatus/100 != 2:
		hint := "Check serve's log for why."
		if res.AnswerStatus == http.StatusUnauthorized || res.AnswerStatus == http.StatusServiceUnavailable {
			hint = "serve refused the signature: run it with the sandbox's environment, so both use the same VONAGE_SIGNATURE_SECRET."
		}
		return maskcall.Errorf(maskcall.EUPSTREAM, "The answer webhook at %s replied HTTP %d, so Vonage would have dropped the call.", res.AnswerURL, res.AnswerStatus).
			WithHint(hint)
	case res.AnswerError != "":
		return maskcall.Errorf(maskcall.EUPSTREAM, "The answer webhook at %s replied, but %s.", res.AnswerURL, strings.TrimRight(res.AnswerError, ".")).
			WithHint("Vonage would have dropped the call.")
	}
	return nil
}

// shellQuote quotes v for a POSIX shell when it needs it.
func shellQuote(v string) string {
	if v != "" && strings.IndexFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-:+@=,", r))
	}) < 0 {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// displayPath shows path relative to the working directory when it is
// inside it.
func displayPath(path string) string {
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return path
}

// printCall shows a simulated call the way an operator reads it.
func printCall(io *IOStreams, res *sandbox.CallResult) {
	fmt.Fprintf(io.Out, "Call %s: answer webhook replied HTTP %d\n", res.UUID, res.AnswerStatus)
	var pretty bytes.Buffer
	if json.Indent(&pretty, res.NCCO, "  ", "  ") == nil {
		fmt.Fprintf(io.Out, "  NCCO: %s\n", pretty.String())
	}
	for _, a := range res.Actions {
		fmt.Fprintf(io.Out, "  Vonage would: %s\n", a)
	}
	for _, e := range res.Events {
		fmt.Fprintf(io.Out, "  event %-8s %-10s -> HTTP %d\n", e.Direction, e.Status, e.HTTPStatus)
	}
}

// postSandbox sends body as JSON to a running sandbox's inspection endpoint
// path and decodes its reply into out; what says, in an error, what the
// sandbox could not do. It returns the raw reply for -o json.
func postSandbox(ctx context.Context, client *http.Client, base, path string, body, out any, what string) ([]byte, error) {
	payload, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+path, bytes.NewReader(payload))
	if err != nil {
		return nil, flagErrorf("--sandbox %q is not a URL", base)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, maskcall.Errorf(maskcall.EUNAVAILABLE, "Could not reach the sandbox at %s: %v.", base, err).
			WithHint("Start it with `maskcall sandbox`, or pass --sandbox.")
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return nil, maskcall.Errorf(maskcall.EUPSTREAM, "The sandbox could not %s (HTTP %d): %s", what, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, maskcall.Errorf(maskcall.EUPSTREAM, "The sandbox's reply was not understood: %v.", err)
	}
	return raw, nil
}
