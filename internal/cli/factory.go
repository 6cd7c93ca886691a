package cli

import (
	"os"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/postgres"
	"github.com/maskcall/maskcall/internal/sqlite"
	"github.com/maskcall/maskcall/internal/vonage"
	"github.com/spf13/pflag"
)

// Factory builds a command's dependencies lazily, so --help, completion and
// version never open the database or read credentials.
type Factory struct {
	IO  *IOStreams
	Now func() time.Time

	// ConfigFile is --config; Flags are the root's persistent flags.
	ConfigFile string
	Flags      *pflag.FlagSet

	cfg     *Config
	db      maskcall.Store
	closeDB func() error
}

// NewFactory returns a Factory writing to io.
func NewFactory(io *IOStreams) *Factory {
	return &Factory{IO: io, Now: time.Now}
}

// Config loads the configuration once.
func (f *Factory) Config() (*Config, error) {
	if f.cfg != nil {
		return f.cfg, nil
	}
	cfg, err := loadConfig(f.ConfigFile, f.Flags)
	if err != nil {
		return nil, err
	}
	f.cfg = cfg
	return cfg, nil
}

// DB opens the state database once, every commit fsynced: the CLI's
// writes are few and must survive a power loss. db is a PostgreSQL URL
// (postgres:// or postgresql://) or else a SQLite file path.
func (f *Factory) DB() (maskcall.Store, error) { return f.openDB(false) }

// ServeDB opens the state database for serve: on SQLite, commits grouped
// and not fsynced one by one (sqlite.DB.FastCommits).
func (f *Factory) ServeDB() (maskcall.Store, error) { return f.openDB(true) }

func (f *Factory) openDB(fast bool) (maskcall.Store, error) {
	if f.db != nil {
		return f.db, nil
	}
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	if dsn := cfg.String("db"); postgres.IsURL(dsn) {
		db := postgres.NewDB(dsn)
		db.Now = f.Now
		if err := db.Open(); err != nil {
			if maskcall.ErrorCode(err) == maskcall.ESTORE {
				return nil, withHint(err, "Check that PostgreSQL runs and the URL given by --db, MASKCALL_DB or db in maskcall.yaml.")
			}
			return nil, err
		}
		f.db, f.closeDB = db, db.Close
		return db, nil
	}
	db := sqlite.NewDB(cfg.String("db"))
	db.Now = f.Now
	db.FastCommits = fast
	if err := db.Open(); err != nil {
		return nil, err // hints.go advises by the error's reason
	}
	f.db, f.closeDB = db, db.Close
	return db, nil
}

// Vonage builds a client from the configured credentials.
func (f *Factory) Vonage() (*vonage.Client, error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	key, err := cfg.Require("vonage.api_key")
	if err != nil {
		return nil, err
	}
	secret, err := cfg.Require("vonage.api_secret")
	if err != nil {
		return nil, err
	}
	timeout, err := cfg.Duration("vonage.timeout")
	if err != nil {
		return nil, err
	}
	vc := vonage.Config{
		APIKey: key, APISecret: secret,
		ApplicationID: cfg.String("vonage.application_id"),
		RestURL:       cfg.String("vonage.rest_url"),
		APIURL:        cfg.String("vonage.api_url"),

		IdentityInsightsURL: cfg.String("vonage.identity_insights_url"),
		Timeout:             timeout,
	}
	if path := cfg.String("vonage.private_key"); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, maskcall.Errorf(maskcall.ECONFIG, "Could not read the private key %s: %v.", path, err).
				WithHint("Point vonage.private_key (VONAGE_PRIVATE_KEY_PATH) at the application's private key file.")
		}
		vc.PrivateKey = pem
	}
	return vonage.New(vc)
}

// NumberPool wires the pool to the database and Vonage.
func (f *Factory) NumberPool() (*maskcall.NumberPool, error) {
	db, err := f.DB()
	if err != nil {
		return nil, err
	}
	vc, err := f.Vonage()
	if err != nil {
		return nil, err
	}
	cfg, _ := f.Config()
	return &maskcall.NumberPool{Store: db, Numbers: vc, ApplicationID: cfg.String("vonage.application_id"), Now: f.Now}, nil
}

// ConversationService wires conversations to the database and, when
// withVonage is set, to Vonage (Number Insight, SMS, hangup, auto-provision).
// Without it, no credentials are needed.
func (f *Factory) ConversationService(withVonage bool) (*maskcall.ConversationService, error) {
	db, err := f.DB()
	if err != nil {
		return nil, err
	}
	cfg, _ := f.Config()
	svc := &maskcall.ConversationService{Store: db, SMSTemplate: cfg.String("sms.template"), Now: f.Now}
	if !withVonage {
		return svc, nil
	}
	pool, err := f.NumberPool()
	if err != nil {
		return nil, err
	}
	vc, _ := f.Vonage()
	svc.Pool, svc.Insight, svc.SMS, svc.Voice = pool, vc, vc, vc
	return svc, nil
}

// Close releases what the Factory opened.
func (f *Factory) Close() {
	if f.closeDB != nil {
		f.closeDB()
		f.db, f.closeDB = nil, nil
	}
}
