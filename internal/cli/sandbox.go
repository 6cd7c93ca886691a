package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
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
prints), and prints the environment that points maskcall at it. What it received is under /_sandbox/
(e.g. GET /_sandbox/requests, /_sandbox/sms). "maskcall sandbox call" simulates an inbound call.`,
		Example: `  maskcall sandbox
  maskcall sandbox --listen 127.0.0.1:4010 --api-key mykey --api-secret mysecret`,
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
	return cmd
}

// sandboxSetup is a sandbox's settings and the environment that points
// maskcall at it.
type sandboxSetup struct {
	cfg sandbox.Config
	// tempKey is the private key file made for this run, "" if configured.
	tempKey string
	env     [][2]string // printed as export lines; secrets included only if the sandbox chose them
}

func resolveSandbox(cfg *Config, opts *SandboxOptions) (*sandboxSetup, error) {
	s := &sandboxSetup{}
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
	// The Voice API wants a JWT signed with the application's private key:
	// use the configured key, or make one for this sandbox run.
	keyPath := cfg.String("vonage.private_key")
	var key *rsa.PrivateKey
	if keyPath != "" {
		pemBytes, err := os.ReadFile(keyPath)
		if err != nil {
			return nil, maskcall.Errorf(maskcall.ECONFIG, "Could not read the private key %s: %v.", keyPath, err)
		}
		if key, err = parseRSAKey(pemBytes); err != nil {
			return nil, maskcall.Errorf(maskcall.ECONFIG, "%s is not an RSA private key in PEM form: %v.", keyPath, err)
		}
	} else {
		var err error
		if key, keyPath, err = writeSandboxKey(); err != nil {
			return nil, err
		}
		s.tempKey = keyPath
		s.env = append(s.env, [2]string{"VONAGE_PRIVATE_KEY_PATH", keyPath})
	}
	c.ApplicationPublicKey = &key.PublicKey
	c.SMSSignatureMethod = cfg.String("vonage.sms_signature_method") // inbound SMS signed as serve expects
	return s, nil
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
	srv := sandbox.NewServer(opts.Listen, sandbox.New(setup.cfg))
	if err := srv.Open(); err != nil {
		return maskcall.Errorf(maskcall.ECONFIG, "Could not listen on %s: %v.", opts.Listen, err).
			WithHint("Pick another address with --listen, or stop what uses the port.")
	}
	defer srv.Close()

	opts.IO.Statusf("Vonage sandbox listening on %s (fictional numbers, in-memory state).", srv.URL())
	opts.IO.Statusf("Point maskcall at it:")
	fmt.Fprintf(opts.IO.Out, "export VONAGE_REST_URL=%s\n", srv.URL())
	fmt.Fprintf(opts.IO.Out, "export VONAGE_API_URL=%s\n", srv.URL())
	fmt.Fprintf(opts.IO.Out, "export VONAGE_IDENTITY_INSIGHTS_URL=%s\n", srv.URL())
	for _, kv := range setup.env {
		fmt.Fprintf(opts.IO.Out, "export %s=%s\n", kv[0], kv[1])
	}
	opts.IO.Statusf("Requests it received: %s/_sandbox/requests   Texts sent: %s/_sandbox/sms", srv.URL(), srv.URL())
	opts.IO.Statusf("Simulate a call: maskcall sandbox call --from 447700900123 --to <proxy> --answer-url http://127.0.0.1:3000/webhooks/answer")
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
	body, _ := json.Marshal(opts.Request)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(opts.Sandbox, "/")+"/_sandbox/calls", bytes.NewReader(body))
	if err != nil {
		return flagErrorf("--sandbox %q is not a URL", opts.Sandbox)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := opts.HTTP().Do(req)
	if err != nil {
		return maskcall.Errorf(maskcall.EUNAVAILABLE, "Could not reach the sandbox at %s: %v.", opts.Sandbox, err).
			WithHint("Start it with `maskcall sandbox`, or pass --sandbox.")
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return maskcall.Errorf(maskcall.EUPSTREAM, "The sandbox could not place the call (HTTP %d): %s", resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	var res sandbox.CallResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return maskcall.Errorf(maskcall.EUPSTREAM, "The sandbox's reply was not understood: %v.", err)
	}
	if opts.Output == outputJSON {
		_, err := opts.IO.Out.Write(raw)
		return err
	}
	printCall(opts.IO, &res)
	return nil
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
