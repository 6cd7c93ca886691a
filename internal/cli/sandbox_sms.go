package cli

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/phone"
	"github.com/maskcall/maskcall/internal/sandbox"
	"github.com/spf13/cobra"
)

// SandboxSMSOptions are the inputs of `sandbox sms`.
type SandboxSMSOptions struct {
	IO     *IOStreams
	Config func() (*Config, error)
	HTTP   func() *http.Client

	Sandbox string
	Request sandbox.InboundSMSRequest
	Output  string
}

// NewCmdSandboxSMS builds `sandbox sms`.
func NewCmdSandboxSMS(f *Factory, runF func(context.Context, *SandboxSMSOptions) error) *cobra.Command {
	opts := &SandboxSMSOptions{IO: f.IO, Config: f.Config, HTTP: func() *http.Client { return &http.Client{Timeout: 60 * time.Second} }}
	cmd := &cobra.Command{
		Use:   "sms --from NUMBER --to PROXY --text TEXT",
		Short: "Simulate an inbound text: the running sandbox delivers it to serve as Vonage would",
		Long: `Ask a running sandbox to deliver a text from a real number to a proxy number, exactly as Vonage's
inbound-sms webhook would: to the number's inbound SMS URL (or --url), signed with sig when
vonage.sms_signature_method is set, and split into parts sent out of order when it is long.
What maskcall relays appears in the sandbox's /_sandbox/sms.`,
		Example: `  maskcall sandbox sms --from 447700900123 --to 447700900000 --text "I'm outside"
  maskcall sandbox sms --from +447700900123 --to +447700900000 --text "$(cat long.txt)" --method GET
  maskcall sandbox sms --from 447700900123 --to 447700900000 --text hi --repeat 3   # Vonage resending`,
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
			if opts.Request.Text == "" {
				return flagErrorf("--text must not be empty")
			}
			m := strings.ToUpper(opts.Request.Method)
			if m != http.MethodGet && m != http.MethodPost {
				return flagErrorf("--method must be GET or POST, not %q", opts.Request.Method)
			}
			opts.Request.Method = m
			if f := opts.Request.Format; f != "json" && f != "form" {
				return flagErrorf("--format must be json or form, not %q", f)
			}
			if opts.Request.Repeat < 1 || opts.Request.Repeat > 100 {
				return flagErrorf("--repeat must be between 1 and 100")
			}
			if opts.Sandbox == "" {
				opts.Sandbox = "http://" + sandboxDefaultListen
				if cfg, err := opts.Config(); err == nil {
					if u := cfg.String("vonage.rest_url"); u != "" && u != "https://rest.nexmo.com" {
						opts.Sandbox = u
					}
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return sandboxSMSRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Request.From, "from", "", "the sender's real number (required)")
	fl.StringVar(&opts.Request.To, "to", "", "the proxy number texted (required)")
	fl.StringVar(&opts.Request.Text, "text", "", "the text (required)")
	fl.StringVar(&opts.Request.URL, "url", "", "inbound SMS webhook (default: the number's inbound URL, else "+sandbox.DefaultInboundSMSURL+")")
	fl.StringVar(&opts.Request.Method, "method", "POST", "how the webhook is sent: GET or POST")
	fl.StringVar(&opts.Request.Format, "format", "json", "body of a POST: json or form")
	fl.IntVar(&opts.Request.Repeat, "repeat", 1, "deliver each part this many times, as Vonage resends")
	fl.BoolVar(&opts.Request.InOrder, "in-order", false, "send the parts of a long text in order (default: out of order)")
	fl.IntVar(&opts.Request.DropPart, "drop-part", 0, "leave out this part (1-based) of a long text")
	fl.StringVar(&opts.Sandbox, "sandbox", "", "URL of the running sandbox (default vonage.rest_url if not Vonage's, else http://"+sandboxDefaultListen+")")
	outputFlag(cmd, &opts.Output)
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	_ = cmd.MarkFlagRequired("text")
	return cmd
}

func sandboxSMSRun(ctx context.Context, opts *SandboxSMSOptions) error {
	var res sandbox.InboundSMSResult
	raw, err := postSandbox(ctx, opts.HTTP(), opts.Sandbox, "/_sandbox/inbound-sms", opts.Request, &res, "deliver the text")
	if err != nil {
		return err
	}
	if opts.Output == outputJSON {
		if _, err := opts.IO.Out.Write(raw); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(opts.IO.Out, "Text delivered to %s in %d part(s)\n", res.URL, res.Parts)
		for _, d := range res.Deliveries {
			signed := "unsigned"
			if d.Signed {
				signed = "signed"
			}
			line := fmt.Sprintf("  part %d (%s, %s) -> HTTP %d", d.Part, d.MessageID, signed, d.HTTPStatus)
			if d.Error != "" {
				line += ": " + d.Error
			}
			fmt.Fprintln(opts.IO.Out, line)
		}
	}
	if !res.OK() {
		return maskcall.Errorf(maskcall.EUPSTREAM, "The webhook at %s did not accept every part; Vonage would resend them for 24 hours.", res.URL)
	}
	return nil
}
