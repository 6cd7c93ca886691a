package cli

import (
	"context"
	"log/slog"
	"strconv"
	"strings"

	"github.com/maskcall/maskcall/internal/httpserver"
	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/vonage/signature"
	"github.com/maskcall/maskcall/internal/webhook"
	"github.com/maskcall/maskcall/internal/worker"
)

// smsRelaySettings are serve's SMS relay settings from the configuration.
type smsRelaySettings struct {
	Policy          maskcall.InboundPolicy
	Reply           string
	Rate            float64
	SignatureMethod string
	SignatureSecret string
}

func readSMSRelaySettings(cfg *Config) (*smsRelaySettings, error) {
	s := &smsRelaySettings{Reply: cfg.String("sms.not_in_service_reply"),
		SignatureMethod: cfg.String("vonage.sms_signature_method"), SignatureSecret: cfg.String("vonage.signature_secret")}
	var err error
	if v := cfg.String("sms.store_text"); v != "" {
		if s.Policy.StoreText, err = strconv.ParseBool(v); err != nil {
			return nil, maskcall.Errorf(maskcall.ECONFIG, "sms.store_text must be true or false, got %q.", v)
		}
	}
	s.Policy.AutoReply = s.Reply != ""
	if s.Policy.ConcatWait, err = cfg.Duration("sms.concat_wait"); err != nil {
		return nil, err
	}
	if s.Policy.ConcatWait <= 0 || s.Policy.ConcatWait > maskcall.MaxConcatWait {
		return nil, maskcall.Errorf(maskcall.ECONFIG, "sms.concat_wait must be between 1s and %s, got %s.", maskcall.MaxConcatWait, s.Policy.ConcatWait)
	}
	if s.Rate, err = strconv.ParseFloat(cfg.String("sms.rate"), 64); err != nil || s.Rate <= 0 || s.Rate > 1000 {
		return nil, maskcall.Errorf(maskcall.ECONFIG, "sms.rate must be a number of requests per second between 0 and 1000, got %q.", cfg.String("sms.rate"))
	}
	if m := s.SignatureMethod; m != "" {
		if !signature.ValidSMSMethod(m) {
			return nil, maskcall.Errorf(maskcall.ECONFIG, "vonage.sms_signature_method is %q; it must be md5hash, md5, sha1, sha256 or sha512.", m)
		}
		if s.SignatureSecret == "" {
			return nil, maskcall.Errorf(maskcall.ECONFIG, "vonage.sms_signature_method is set but vonage.signature_secret is not, so inbound SMS could not be verified.").
				WithHint("Set VONAGE_SIGNATURE_SECRET (or vonage.signature_secret in maskcall.yaml).")
		}
	}
	return s, nil
}

// startSMSRelay mounts the inbound SMS webhook on srv and starts the relay
// worker; the returned function stops the worker once its sends in flight
// are recorded. Stores without messages (none today but SQLite) get no
// relay, with a warning.
func startSMSRelay(ctx context.Context, opts *ServeOptions, cfg *Config, store maskcall.Store, srv *httpserver.Server, logger *slog.Logger) (func(), error) {
	set, err := readSMSRelaySettings(cfg)
	if err != nil {
		return nil, err
	}
	ms, ok := store.(maskcall.MessageStore)
	if !ok {
		logger.Warn("this database does not support the SMS relay yet: inbound SMS are not accepted")
		return func() {}, nil
	}
	var sms maskcall.SMSAPI
	if opts.SMS != nil {
		if sms, err = opts.SMS(); err != nil {
			logger.Warn("inbound SMS are recorded but not relayed until Vonage credentials are set", "err", maskcall.ErrorMessage(err))
			sms = nil
		}
	}
	w := &worker.RelayWorker{Store: ms, SMS: sms, Now: opts.Now, Rate: set.Rate, AutoReplyText: set.Reply, Logger: logger, LogPII: opts.LogPII}
	h, err := webhook.NewInboundSMS(webhook.InboundSMSConfig{Store: ms, Policy: set.Policy, SignatureMethod: set.SignatureMethod,
		SignatureSecret: set.SignatureSecret, Recorded: w.Wake, Now: opts.Now, Logger: logger, LogPII: opts.LogPII,
		Observer: opts.observer})
	if err != nil {
		return nil, err
	}
	h.Mount(srv)
	if !h.Verified() {
		logger.Warn("inbound SMS are NOT verified (vonage.sms_signature_method is not set): anyone who can reach " + webhook.InboundSMSPath + " can make maskcall text a participant")
	}
	if sms == nil {
		return func() {}, nil
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = w.Run(wctx)
	}()
	return func() { cancel(); <-done }, nil
}

// inboundSMSURL is where numbers send their inbound texts: serve's public
// URL + the inbound SMS path; "" without a public URL (numbers keep theirs).
func inboundSMSURL(cfg *Config) string {
	base := strings.TrimRight(cfg.String("serve.public_url"), "/")
	if base == "" {
		return ""
	}
	return base + webhook.InboundSMSPath
}
