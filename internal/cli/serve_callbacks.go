package cli

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/stdwebhook"
	"github.com/maskcall/maskcall/internal/worker"
)

// callbackSettings are serve's callback settings from the configuration.
type callbackSettings struct {
	URL            string
	Key            []byte
	IncludeNumbers bool
}

// readCallbackSettings checks callbacks.*. A URL without a secret is
// refused rather than warned about: an unsigned callback teaches the
// platform to accept forged ones, and a refusal at start is seen at once,
// where a warning scrolls by.
func readCallbackSettings(cfg *Config) (*callbackSettings, error) {
	s := &callbackSettings{URL: cfg.String("callbacks.url")}
	if s.URL != "" {
		if err := maskcall.ValidateCallbackURL(s.URL); err != nil {
			return nil, maskcall.Errorf(maskcall.ECONFIG, "callbacks.url is not an absolute http or https URL.").WithReason("callbacks_url")
		}
	}
	if secret := cfg.String("callbacks.secret"); secret != "" {
		key, err := stdwebhook.ParseSecret(secret)
		if err != nil {
			return nil, maskcall.Errorf(maskcall.ECONFIG, "callbacks.secret is not a webhook secret (whsec_ and base64).").WithReason("callbacks_secret")
		}
		s.Key = key
	} else if s.URL != "" {
		return nil, maskcall.Errorf(maskcall.ECONFIG, "callbacks.url is set but callbacks.secret is not, so callbacks could not be signed.").WithReason("callbacks_secret")
	}
	if v := cfg.String("callbacks.include_numbers"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, maskcall.Errorf(maskcall.ECONFIG, "callbacks.include_numbers must be true or false, got %q.", v).WithReason("callbacks_include_numbers")
		}
		s.IncludeNumbers = b
	}
	return s, nil
}

// startCallbacks records in the store whether the deployment has a callback
// URL and starts the delivery worker, woken by this process's writes and
// polling for the others'. The returned function stops it once the
// requests in flight are recorded.
func startCallbacks(ctx context.Context, opts *ServeOptions, cfg *Config, store maskcall.Store, logger *slog.Logger) (func(), error) {
	set, err := readCallbackSettings(cfg)
	if err != nil {
		return nil, err
	}
	cs, ok := store.(maskcall.CallbackStore)
	if !ok {
		if set.URL != "" {
			logger.Warn("this database does not keep callbacks: none are sent")
		}
		return func() {}, nil
	}
	if err := cs.SetCallbackTarget(ctx, set.URL != "", opts.Now()); err != nil {
		return nil, err
	}
	if set.Key == nil {
		// Conversations may still have their own URLs: their events wait
		// (callbacks list shows them) until serve has a secret.
		logger.Info("callbacks are off (callbacks.secret is not set): events of conversations with their own callback URL wait until it is")
		return func() {}, nil
	}
	w := &worker.CallbackWorker{Store: cs, URL: set.URL, Key: set.Key, IncludeNumbers: set.IncludeNumbers, Now: opts.Now, Logger: logger}
	cs.OnCallback(w.Wake)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = w.Run(wctx)
	}()
	return func() { cs.OnCallback(nil); cancel(); <-done }, nil
}
