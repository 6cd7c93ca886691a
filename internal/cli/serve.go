package cli

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/maskcall/maskcall/internal/build"
	"github.com/maskcall/maskcall/internal/httpserver"
	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/webhook"
	"github.com/spf13/cobra"
)

// expireInterval is how often serve ends conversations whose time ran out.
// Routing never waits for it: an expired conversation stops routing at its
// expiry instant; the sweep only records the end.
const expireInterval = 15 * time.Second

// serveGCPercent is serve's GOGC unless the environment sets one. The route
// index and the replay cache live outside Go's heap (internal/offheap), so
// the heap holds little more than the requests in flight, a few MB, and at
// the default 100 the collector ran after every few MB allocated: 5.4 % of
// serve's CPU under the load test at 1,000,000 conversations. 200 took it
// to 2.7 % for 4 MB more resident memory (BENCHMARKS.md).
const serveGCPercent = 200

// tuneGC sets serveGCPercent, unless GOGC is set.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(serveGCPercent)
	}
}

// ServeOptions are the inputs of `serve`.
type ServeOptions struct {
	IO     *IOStreams
	DB     func() (maskcall.Store, error)
	Config func() (*Config, error)
	Now    func() time.Time

	Listen        string
	PublicURL     string
	AllowUnsigned bool
	LogPII        bool
	// SMS sends the SMS relay's texts (nil: none are sent).
	SMS func() (maskcall.SMSAPI, error)
	// Ready, if set, is called with the server once it serves (tests).
	Ready func(*httpserver.Server)

	// The /v1 API (serve_api.go): on the webhook listener unless APIListen
	// is set; off with NoAPI. APIService builds its conversation service.
	APIListen  string
	NoAPI      bool
	APIService func() (*maskcall.ConversationService, error)

	// MetricsListen serves Prometheus metrics on this address of its own
	// (serve_metrics.go); "" for none. VonageTransport, if set, is given
	// the wrapper of the Vonage client's transport that counts requests.
	MetricsListen   string
	VonageTransport func(wrap func(http.RoundTripper) http.RoundTripper)
	// observer gets the webhooks' outcomes (the inbound SMS webhook's too).
	observer webhook.Observer
}

// NewCmdServe builds `serve`.
func NewCmdServe(f *Factory, runF func(context.Context, *ServeOptions) error) *cobra.Command {
	opts := &ServeOptions{IO: f.IO, Config: f.Config, Now: f.Now, DB: func() (maskcall.Store, error) { return f.ServeDB() },
		SMS: func() (maskcall.SMSAPI, error) {
			vc, err := f.Vonage()
			if err != nil {
				return nil, err
			}
			return vc, nil
		},
		VonageTransport: func(wrap func(http.RoundTripper) http.RoundTripper) { f.vonageTransport = wrap }}
	opts.APIService = apiService(f, func() *slog.Logger { return slog.New(slog.NewTextHandler(f.IO.ErrOut, nil)) })
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Answer Vonage's call webhooks from the database",
		Long: `Run the webhook server Vonage calls when someone dials a proxy number. It looks up the caller and
the number dialled, and answers with an NCCO that connects the other participant, showing only
proxy numbers. Strangers and ended conversations hear that the number is not in service.
Run it behind ngrok or a load balancer, pass that URL as --public-url, and set the two URLs it
prints on the Vonage application. Without --public-url it only listens on a loopback address.
It verifies Vonage's signed webhooks with vonage.signature_secret and vonage.api_key, and refuses
replayed ones.
A load balancer checks GET /readyz (503 while the database cannot be reached or its schema is
not this release's: take the replica out of rotation) and GET /healthz (the process is alive).
With --metrics-listen it serves Prometheus metrics at /metrics on a listener of its own.`,
		Example: `  maskcall serve --public-url https://example.ngrok.app
  maskcall serve --listen 127.0.0.1:3000 --allow-unsigned   # local testing only
  maskcall serve --public-url https://calls.example.com --metrics-listen 127.0.0.1:9090
  MASKCALL_DB=postgres://maskcall@db.internal/maskcall maskcall serve --public-url https://calls.example.com`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := opts.Config()
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("listen") {
				opts.Listen = cfg.String("serve.listen")
			}
			if !cmd.Flags().Changed("public-url") {
				opts.PublicURL = cfg.String("serve.public_url")
			}
			if opts.PublicURL != "" && !strings.HasPrefix(opts.PublicURL, "http://") && !strings.HasPrefix(opts.PublicURL, "https://") {
				return flagErrorf("--public-url must start with https:// (or http://), got %q", opts.PublicURL)
			}
			opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
			if !cmd.Flags().Changed("api-listen") {
				opts.APIListen = cfg.String("serve.api_listen")
			}
			if !cmd.Flags().Changed("metrics-listen") {
				opts.MetricsListen = cfg.String("serve.metrics_listen")
			}
			if opts.NoAPI && cmd.Flags().Changed("api-listen") {
				return flagErrorf("--no-api and --api-listen contradict each other")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return serveRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Listen, "listen", ":3000", "address to listen on (serve.listen)")
	cmd.Flags().StringVar(&opts.PublicURL, "public-url", "", "public base URL Vonage reaches this server at (serve.public_url)")
	cmd.Flags().BoolVar(&opts.AllowUnsigned, "allow-unsigned", false, "accept unsigned webhooks when no signature secret is set (unsafe)")
	cmd.Flags().BoolVar(&opts.LogPII, "log-pii", false, "log full phone numbers (default: masked)")
	cmd.Flags().StringVar(&opts.APIListen, "api-listen", "", "serve the /v1 API on this address of its own, e.g. 127.0.0.1:3001 (serve.api_listen; default: the webhook listener)")
	cmd.Flags().BoolVar(&opts.NoAPI, "no-api", false, "do not serve the /v1 API")
	cmd.Flags().StringVar(&opts.MetricsListen, "metrics-listen", "", "serve Prometheus metrics at /metrics on this address of its own, e.g. 127.0.0.1:9090 (serve.metrics_listen; default: off)")
	return cmd
}

// webhookConfig reads the webhook handlers' settings from maskcall's
// config. It only converts types; webhook.Config.Check validates them, in
// one place, and settingError words its refusals in config keys.
func webhookConfig(cfg *Config, opts *ServeOptions, publicURL string, logger *slog.Logger) (webhook.Config, error) {
	if err := checkVoiceLanguage(cfg, opts.IO); err != nil {
		return webhook.Config{}, err
	}
	maxLen, err := cfg.Duration("voice.max_call_length")
	if err != nil {
		return webhook.Config{}, err
	}
	style := 0
	if s := cfg.String("voice.style"); s != "" {
		var err error
		if style, err = strconv.Atoi(s); err != nil {
			return webhook.Config{}, maskcall.Errorf(maskcall.ECONFIG, "voice.style must be a whole number, got %q.", s)
		}
	}
	forward, err := outOfSessionForward(cfg.String("voice.out_of_session"))
	if err != nil {
		return webhook.Config{}, err
	}
	w := webhook.Config{
		OutOfSessionForward: forward,
		PublicURL:           publicURL,
		ConnectText:         cfg.String("voice.connect_text"),
		NotInServiceText:    cfg.String("voice.not_in_service_text"),
		Language:            cfg.String("voice.language"),
		Style:               style,
		MaxCallLength:       maxLen,
		SignatureSecret:     cfg.String("vonage.signature_secret"),
		APIKey:              cfg.String("vonage.api_key"),
		ApplicationID:       cfg.String("vonage.application_id"),
		AllowUnsigned:       opts.AllowUnsigned,
		Logger:              logger,
		LogPII:              opts.LogPII,
	}
	if err := w.Check(); err != nil {
		return w, settingError(err)
	}
	return w, nil
}

// settingKeys name the config key behind each webhook.Config field.
var settingKeys = map[string]string{
	"PublicURL":           "serve.public_url (--public-url)",
	"ConnectText":         "voice.connect_text",
	"NotInServiceText":    "voice.not_in_service_text",
	"Language":            "voice.language",
	"Style":               "voice.style",
	"MaxCallLength":       "voice.max_call_length",
	"OutOfSessionForward": "voice.out_of_session",
}

// settingError words a refusal of webhook.Config in config keys.
func settingError(err error) error {
	var fe *webhook.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	switch fe.Field {
	case "SignatureSecret":
		return maskcall.Errorf(maskcall.ECONFIG, "vonage.signature_secret is not set, so serve could not tell Vonage's webhooks from forgeries.").
			WithHint("Set VONAGE_SIGNATURE_SECRET (or vonage.signature_secret in maskcall.yaml), or pass --allow-unsigned for local testing.")
	case "APIKey":
		return maskcall.Errorf(maskcall.ECONFIG, "vonage.api_key is not set, so serve could not check that signed webhooks come from your Vonage account.").
			WithHint("Set VONAGE_API_KEY (or vonage.api_key in maskcall.yaml).")
	}
	if key, ok := settingKeys[fe.Field]; ok {
		return fe.Err.WithHint("Check " + key + ".")
	}
	return fe.Err
}

func serveRun(ctx context.Context, opts *ServeOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	tuneGC()
	logger := slog.New(slog.NewTextHandler(opts.IO.ErrOut, nil))
	// The eventUrl Vonage gets comes from configuration only, never from a
	// request's Host header: without a public URL serve only runs where
	// nothing but this machine reaches it.
	if opts.PublicURL == "" && !httpserver.IsLoopback(opts.Listen) {
		return maskcall.Errorf(maskcall.ECONFIG, "No public URL is set, and serve would listen on %s, beyond this machine.", opts.Listen).
			WithHint("Pass --public-url (serve.public_url) with the URL Vonage reaches this server at, or listen on 127.0.0.1 for local testing.")
	}

	srv := httpserver.New(opts.Listen)
	srv.Name, srv.Logger = "webhook", logger
	if err := srv.Listen(); err != nil {
		return withHint(err, "Pick another address with --listen, or stop what uses the port.")
	}
	defer srv.Close()
	base := opts.PublicURL
	if base == "" {
		base = srv.URL() // loopback: its own address, port included
	}
	wcfg, err := webhookConfig(cfg, opts, base, logger)
	if err != nil {
		return err
	}
	if wcfg.SignatureSecret == "" {
		logger.Warn("webhook signatures are NOT verified (--allow-unsigned): anyone who can reach this server can ask it who is behind a proxy number")
	} else if wcfg.ApplicationID == "" {
		logger.Warn("vonage.application_id is not set: the application_id of signed webhooks is not checked")
	}
	if build.DiscardCallRecords {
		logger.Warn("this binary was built to measure, with -tags maskcall_discard_call_records: it keeps NO call records; build it again without the tag")
	}

	store, err := opts.DB()
	if err != nil {
		return err
	}
	routes, stopIndex, err := startRouteIndex(cfg, store, logger)
	if err != nil {
		return err
	}
	defer stopIndex()
	router := &maskcall.Router{Routes: routes, Calls: store, Now: opts.Now,
		RecordFailed: func(c *maskcall.Call, err error) {
			logger.Error("call record lost", "uuid", c.UUID, "conversation", c.ConversationID, "err", err)
		}}
	mx, err := startMetrics(opts, store, routes, logger)
	if err != nil {
		return err
	}
	defer mx.Close()
	wcfg.Observer, opts.observer = mx.observer(), mx.observer()
	if rec, ok := store.(maskcall.OutOfSessionRecorder); ok {
		router.OutOfSession = rec
	}
	hooks, err := webhook.New(router, wcfg)
	if err != nil {
		return settingError(err)
	}
	hooks.Mount(srv)
	stopSMS, err := startSMSRelay(ctx, opts, cfg, store, srv, logger)
	if err != nil {
		return err
	}
	defer stopSMS()
	stopCallbacks, err := startCallbacks(ctx, opts, cfg, store, logger)
	if err != nil {
		return err
	}
	defer stopCallbacks()
	srv.Handle("GET /healthz", httpserver.Health())
	mountReady(srv, store, logger)
	apiSrv, err := mountAPI(cfg, opts, store, logger, srv)
	if err != nil {
		return err
	}
	if apiSrv != nil {
		defer apiSrv.Close()
		if err := apiSrv.Serve(); err != nil {
			return err
		}
	}
	if err := srv.Serve(); err != nil {
		return err
	}

	if opts.PublicURL == "" {
		opts.IO.Statusf("No --public-url given: only this machine reaches %s; put it behind ngrok or a load balancer and pass its URL.", base)
	}
	opts.IO.Statusf("maskcall serve is listening on %s", srv.URL())
	opts.IO.Statusf("Set these on the Vonage application (Voice capability):")
	opts.IO.Statusf("  Answer URL: %s/webhooks/answer  (GET or POST)", base)
	opts.IO.Statusf("  Event URL:  %s/webhooks/event   (POST)", base)
	opts.IO.Statusf("  Fallback answer URL: another replica's answer URL (Vonage tries it when this one replies 5xx)")
	if wcfg.OutOfSessionForward != "" {
		opts.IO.Statusf("Callers with no active conversation are forwarded to %s (voice.out_of_session).", maskcall.MaskNumber(wcfg.OutOfSessionForward))
	}
	opts.IO.Statusf("Inbound SMS URL of each number (numbers configure sets it): %s%s", base, webhook.InboundSMSPath)
	switch {
	case apiSrv != nil:
		opts.IO.Statusf("API: %s/v1/ (its own listener)", apiSrv.URL())
	case !opts.NoAPI:
		opts.IO.Statusf("API: %s/v1/", srv.URL())
	}
	if u := mx.URL(); u != "" {
		opts.IO.Statusf("Metrics: %s/metrics", u)
	}
	if !opts.NoAPI {
		noAPIKeysNotice(opts.IO, store)
	}
	if opts.Ready != nil {
		opts.Ready(srv)
	}

	svc := &maskcall.ConversationService{Store: store, Now: opts.Now}
	ticker := time.NewTicker(expireInterval)
	defer ticker.Stop()
	for {
		if n, err := svc.Expire(ctx); err != nil {
			logger.Error("expiring conversations", "err", err)
			mx.storeError("expire_conversations", err)
		} else if n > 0 {
			logger.Info("conversations expired", "count", n)
		}
		select {
		case <-ctx.Done():
			opts.IO.Statusf("Shutting down.")
			return nil
		case <-ticker.C:
		}
	}
}
