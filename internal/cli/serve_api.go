package cli

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/maskcall/maskcall/internal/api"
	"github.com/maskcall/maskcall/internal/httpserver"
	"github.com/maskcall/maskcall/internal/maskcall"
)

// mountAPI mounts the /v1 API: on webhooks (the webhook listener) by
// default, on a listener of its own with --api-listen, nowhere with
// --no-api. It returns the API's own server, listening but not yet
// serving, or nil.
func mountAPI(cfg *Config, opts *ServeOptions, store maskcall.Store, logger *slog.Logger, webhooks *httpserver.Server) (*httpserver.Server, error) {
	if opts.NoAPI {
		return nil, nil
	}
	astore, ok := store.(api.Store)
	if !ok {
		return nil, maskcall.Errorf(maskcall.ECONFIG, "This database cannot serve the API (it keeps no API keys).")
	}
	ttl, err := cfg.Duration("conversation.default_ttl")
	if err != nil {
		return nil, err
	}
	rate := 0.0
	if s := cfg.String("api.rate_limit"); s != "" {
		if rate, err = strconv.ParseFloat(s, 64); err != nil || rate < 0 {
			return nil, maskcall.Errorf(maskcall.ECONFIG, "api.rate_limit must be a number of requests a second (0 for no limit), got %q.", s)
		}
		if rate == 0 {
			rate = -1 // none
		}
	}
	svc := &maskcall.ConversationService{Store: store, Now: opts.Now}
	if opts.APIService != nil {
		if svc, err = opts.APIService(); err != nil {
			return nil, err
		}
	}
	h, err := api.New(api.Config{
		Service: svc, Store: astore, DefaultTTL: ttl, RateLimit: rate,
		Insight:       cfg.String("conversation.insight"),
		FormatInsight: cfg.String("vonage.application_id") != "" && cfg.String("vonage.private_key") != "",
		Logger:        logger, Now: opts.Now,
	})
	if err != nil {
		return nil, err
	}
	if opts.APIListen == "" {
		webhooks.Handle("/v1/", h)
		return nil, nil
	}
	srv := httpserver.New(opts.APIListen)
	srv.Name, srv.Logger = "API", logger
	srv.Handle("/v1/", h)
	srv.Handle("GET /healthz", httpserver.Health())
	mountReady(srv, store, logger)
	if err := srv.Listen(); err != nil {
		return nil, withHint(err, "Pick another address with --api-listen, or stop what uses the port.")
	}
	return srv, nil
}

// apiService is the API's conversation service: with Vonage when its
// credentials are set, so creates can check numbers and text; without,
// saying so, when they are not.
func apiService(f *Factory, logger func() *slog.Logger) func() (*maskcall.ConversationService, error) {
	return func() (*maskcall.ConversationService, error) {
		svc, err := f.ConversationService(true)
		if err == nil {
			return svc, nil
		}
		if maskcall.ErrorCode(err) != maskcall.ECONFIG {
			return nil, err
		}
		logger().Warn("API: Vonage is not configured, so conversations it creates cannot be checked online, texted or hung up", "reason", maskcall.ErrorMessage(err))
		return f.ConversationService(false)
	}
}

// noAPIKeysNotice says how to make a key when there is none yet.
func noAPIKeysNotice(io *IOStreams, store maskcall.Store) {
	ks, ok := store.(maskcall.APIKeyStore)
	if !ok {
		return
	}
	if keys, err := ks.FindAPIKeys(context.Background(), false); err == nil && len(keys) == 0 {
		io.Statusf("  No API keys yet: make one with `maskcall apikey create --name NAME`.")
	}
}
