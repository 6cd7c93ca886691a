package cli

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/maskcall/maskcall/internal/httpserver"
	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/sandbox"
	"github.com/maskcall/maskcall/internal/sqlite"
	"github.com/maskcall/maskcall/internal/vonage"
	"github.com/maskcall/maskcall/internal/webhook"
	"github.com/spf13/cobra"
)

// Participants of the demo: fictional numbers from Ofcom's drama ranges.
const (
	demoDriver = "+447700900123"
	demoRider  = "+442079460321"
)

// DemoOptions are the inputs of `demo`.
type DemoOptions struct {
	IO *IOStreams
	// Keep leaves the temporary database in place and prints its path.
	Keep bool
}

// NewCmdDemo builds `demo`.
func NewCmdDemo(f *Factory, runF func(context.Context, *DemoOptions) error) *cobra.Command {
	opts := &DemoOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Show masked calling end to end, with no account and no setup",
		Long: `Start the Vonage sandbox and the webhook server in-process on loopback with a temporary database,
provision two numbers, pair a driver and a rider, simulate a call each way and print the NCCOs,
then end the conversation and show the next call being refused. Nothing leaves this machine.`,
		Example: `  maskcall demo
  maskcall demo --keep   # keep the temporary database to explore with --db`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return demoRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Keep, "keep", false, "keep the temporary database and print its path")
	return cmd
}

func demoRun(ctx context.Context, opts *DemoOptions) (err error) {
	out := opts.IO.Out
	step := func(format string, args ...any) { fmt.Fprintf(out, "\n==> "+format+"\n", args...) }

	dir, err := os.MkdirTemp("", "maskcall-demo-")
	if err != nil {
		return err
	}
	if opts.Keep {
		defer fmt.Fprintf(out, "\nThe demo database is kept at %s; explore it with --db.\n", filepath.Join(dir, "maskcall.db"))
	} else {
		defer os.RemoveAll(dir)
	}

	// The application's key signs the JWTs of Identity Insights and Voice.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	sb := sandbox.New(sandbox.Config{SignatureSecret: sandboxSignatureSecret, ApplicationID: sandboxApplicationID, ApplicationPublicKey: &key.PublicKey})
	sbSrv := sandbox.NewServer("127.0.0.1:0", sb)
	if err := sbSrv.Open(); err != nil {
		return err
	}
	defer sbSrv.Close()

	db := sqlite.NewDB(filepath.Join(dir, "maskcall.db"))
	db.FastCommits = true // a throwaway database
	if err := db.Open(); err != nil {
		return err
	}
	defer db.Close()

	vc, err := vonage.New(vonage.Config{
		APIKey: sandbox.DefaultAPIKey, APISecret: sandbox.DefaultAPISecret, ApplicationID: sandboxApplicationID,
		PrivateKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		RestURL:    sbSrv.URL(), APIURL: sbSrv.URL(), IdentityInsightsURL: sbSrv.URL(),
	})
	if err != nil {
		return err
	}
	router := &maskcall.Router{Routes: db, Calls: db}
	web := httpserver.New("127.0.0.1:0")
	web.Name = "webhook"
	if err := web.Listen(); err != nil {
		return err
	}
	defer web.Close()
	hooks, err := webhook.New(router, webhook.Config{
		PublicURL:       web.URL(),
		SignatureSecret: sandboxSignatureSecret,
		APIKey:          sandbox.DefaultAPIKey,
		ApplicationID:   sandboxApplicationID,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}
	hooks.Mount(web)
	pool := &maskcall.NumberPool{Store: db, Numbers: vc, ApplicationID: sandboxApplicationID}
	svc := &maskcall.ConversationService{Store: db, Pool: pool, Insight: vc, SMS: vc, Voice: vc}
	apiKey, err := demoAPI(db, svc, web)
	if err != nil {
		return err
	}
	texts, err := startDemoSMS(ctx, db, vc, web)
	if err != nil {
		return err
	}
	defer texts.stop()
	if err := web.Serve(); err != nil {
		return err
	}
	fmt.Fprintf(out, "Vonage sandbox on %s, webhook server on %s, database in %s.\n", sbSrv.URL(), web.URL(), dir)

	step("Provisioning two UK numbers (search, buy, link to the voice application)")
	nums, err := pool.Provision(ctx, maskcall.NumberSearch{Country: "GB", Features: []string{"VOICE", "SMS"}}, 2,
		maskcall.RentOptions{Configure: true, Progress: progressPrinter(&IOStreams{ErrOut: out}, 2)})
	if err != nil {
		return err
	}

	step("Pairing a driver (%s) and a rider (%s)", demoDriver, demoRider)
	res, err := svc.Create(ctx, maskcall.CreateRequest{
		A:   maskcall.Participant{Number: demoDriver, Country: "GB", Label: "driver"},
		B:   maskcall.Participant{Number: demoRider, Country: "GB", Label: "rider"},
		Ref: "ride-demo", Insight: maskcall.InsightFormat, Notify: true,
	})
	if err != nil {
		return err
	}
	c := res.Conversation
	printConversation(opts.IO, c, c.CreatedAt)
	for _, sms := range sb.SentSMS() {
		fmt.Fprintf(out, "  SMS from %s to %s: %q\n", sms.From, maskcall.MaskNumber("+"+sms.To), sms.Text)
	}

	a, b := c.Participants[0], c.Participants[1]
	if a.ProxyNumber == b.ProxyNumber {
		fmt.Fprintf(out, "  Both dial %s: a call is routed by who calls it, so one pool number serves both sides.\n", a.ProxyNumber)
	}
	call := func(from, to, method string) (*sandbox.CallResult, error) {
		r, err := sb.SimulateCall(ctx, sandbox.CallRequest{
			From: from, To: to, AnswerURL: web.URL() + "/webhooks/answer", AnswerMethod: method,
			EventURL: web.URL() + "/webhooks/event",
		})
		if err != nil {
			return nil, err
		}
		printCall(&IOStreams{Out: out}, &r)
		return &r, nil
	}
	step("The driver dials %s (answer webhook sent as GET)", a.ProxyNumber)
	if _, err := call(a.Number, a.ProxyNumber, "GET"); err != nil {
		return err
	}
	step("The rider dials %s (answer webhook sent as POST)", b.ProxyNumber)
	if _, err := call(b.Number, b.ProxyNumber, "POST"); err != nil {
		return err
	}

	calls, err := db.FindCalls(ctx, c.ID)
	if err != nil {
		return err
	}
	step("Calls recorded for %s", c.ID)
	for _, cl := range calls {
		fmt.Fprintf(out, "  %s  %s -> %s  %s  %ds\n", cl.UUID, maskcall.MaskNumber(cl.From), cl.To, cl.Status, cl.Duration)
	}

	if err := texts.texts(ctx, out, step, sb, web.URL()+webhook.InboundSMSPath, c); err != nil {
		return err
	}

	step("Ending the conversation, as a platform's backend does, through the API")
	if err := demoAPIEnd(ctx, out, web.URL(), apiKey, c.ID); err != nil {
		return err
	}
	fmt.Fprintf(out, "Conversation %s ended.\n", c.ID)

	step("The driver dials %s again", a.ProxyNumber)
	r, err := call(a.Number, a.ProxyNumber, "GET")
	if err != nil {
		return err
	}
	if r.Connected {
		return maskcall.Errorf(maskcall.EINTERNAL, "The call after the end was connected; this is a bug.")
	}
	fmt.Fprintf(out, "\nRefused: the ended conversation no longer connects anyone. %d numbers rented in the sandbox, nothing left this machine.\n", len(nums))
	return nil
}
