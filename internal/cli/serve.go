package cli

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/webhook"
	"github.com/spf13/cobra"
)

// expireInterval is how often serve ends conversations whose time ran out.
// Routing never waits for it: an expired conversation stops routing at its
// expiry instant; the sweep only records the end.
const expireInterval = 15 * time.Second

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
	// Ready, if set, is called with the server once it listens (tests, demo).
	Ready func(*webhook.Server)
}

// NewCmdServe builds `serve`.
func NewCmdServe(f *Factory, runF func(context.Context, *ServeOptions) error) *cobra.Command {
	opts := &ServeOptions{IO: f.IO, Config: f.Config, Now: f.Now, DB: func() (maskcall.Store, error) { return f.ServeDB() }}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Answer Vonage's call webhooks from the database",
		Long: `Run the webhook server Vonage calls when someone dials a proxy number. It looks up the caller and
the number dialled, and answers with an NCCO that connects the other participant, showing only
proxy numbers. Strangers and ended conversations hear that the number is not in service.
Run it behind ngrok or a load balancer and set the two URLs it prints on the Vonage application.
It verifies Vonage's signed webhooks with vonage.signature_secret.`,
		Example: `  maskcall serve --public-url https://example.ngrok.app
  maskcall serve --listen 127.0.0.1:3000 --allow-unsigned   # local testing only`,
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
	return cmd
}

// webhookConfig builds the server's settings from maskcall's config.
func webhookConfig(cfg *Config, opts *ServeOptions, logger *slog.Logger) (webhook.Config, error) {
	maxLen, err := cfg.Duration("voice.max_call_length")
	if err != nil {
		return webhook.Config{}, err
	}
	if maxLen <= 0 || maxLen > 2*time.Hour {
		return webhook.Config{}, maskcall.Errorf(maskcall.ECONFIG, "voice.max_call_length must be between 1s and 2h, got %s.", maxLen)
	}
	style := 0
	if s := cfg.String("voice.style"); s != "" {
		var err error
		if style, err = strconv.Atoi(s); err != nil {
			return webhook.Config{}, maskcall.Errorf(maskcall.ECONFIG, "voice.style must be a whole number, got %q.", s)
		}
	}
	secret := cfg.String("vonage.signature_secret")
	if secret == "" && !opts.AllowUnsigned {
		return webhook.Config{}, maskcall.Errorf(maskcall.ECONFIG, "vonage.signature_secret is not set, so serve could not tell Vonage's webhooks from forgeries.").
			WithHint("Set VONAGE_SIGNATURE_SECRET (or vonage.signature_secret in maskcall.yaml), or pass --allow-unsigned for local testing.")
	}
	return webhook.Config{
		PublicURL:        opts.PublicURL,
		ConnectText:      cfg.String("voice.connect_text"),
		NotInServiceText: cfg.String("voice.not_in_service_text"),
		Language:         cfg.String("voice.language"),
		Style:            style,
		MaxCallLength:    maxLen,
		SignatureSecret:  secret,
		AllowUnsigned:    opts.AllowUnsigned,
		Logger:           logger,
		LogPII:           opts.LogPII,
	}, nil
}

func serveRun(ctx context.Context, opts *ServeOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(opts.IO.ErrOut, nil))
	wcfg, err := webhookConfig(cfg, opts, logger)
	if err != nil {
		return err
	}
	if wcfg.SignatureSecret == "" {
		logger.Warn("webhook signatures are NOT verified (--allow-unsigned): anyone who can reach this server can ask it who is behind a proxy number")
	}
	store, err := opts.DB()
	if err != nil {
		return err
	}
	router := &maskcall.Router{Routes: store, Calls: store, Now: opts.Now}
	srv, err := webhook.NewServer(opts.Listen, router, wcfg)
	if err != nil {
		return err
	}
	if err := srv.Open(); err != nil {
		return withHint(err, "Pick another address with --listen, or stop what uses the port.")
	}
	defer srv.Close()

	base := opts.PublicURL
	if base == "" {
		base = srv.URL()
		opts.IO.Statusf("No --public-url given: Vonage cannot reach %s; put it behind ngrok or a load balancer and pass its URL.", base)
	}
	opts.IO.Statusf("maskcall serve is listening on %s", srv.URL())
	opts.IO.Statusf("Set these on the Vonage application (Voice capability):")
	opts.IO.Statusf("  Answer URL: %s/webhooks/answer  (GET or POST)", base)
	opts.IO.Statusf("  Event URL:  %s/webhooks/event   (POST)", base)
	if opts.Ready != nil {
		opts.Ready(srv)
	}

	svc := &maskcall.ConversationService{Store: store, Now: opts.Now}
	ticker := time.NewTicker(expireInterval)
	defer ticker.Stop()
	for {
		if n, err := svc.Expire(ctx); err != nil {
			logger.Error("expiring conversations", "err", err)
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
