package cli

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/postgres"
	"github.com/maskcall/maskcall/internal/sqlite"
	"github.com/maskcall/maskcall/internal/vonage"
	"github.com/spf13/cobra"
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
	// command is the command being run (nil when a test runs one
	// without the root); it decides what may happen to the database.
	command *cobra.Command
	// vonageTransport, if set, wraps the Vonage client's HTTP transport
	// (serve's metrics count its requests).
	vonageTransport func(http.RoundTripper) http.RoundTripper
}

// dbUse is what a command may do with the database.
type dbUse int

const (
	dbRead   dbUse = iota // refuse a missing SQLite file
	dbCreate              // create it if missing
	dbNone                // never open it
)

// commandDB lists the commands that create a missing database (they
// write: buying numbers, adopting them, pairing, serving) or need none.
// Every other command only works on what is there, so a mistyped --db
// gets an error instead of a new empty database.
var commandDB = map[string]dbUse{
	"numbers provision":   dbCreate,
	"numbers rent":        dbCreate,
	"numbers import":      dbCreate,
	"numbers reconcile":   dbCreate,
	"conversation create": dbCreate,
	"serve":               dbCreate,
	"apikey create":       dbCreate,
	"numbers search":      dbNone,
}

// quietCommands print no configuration notices: shell completion (its
// stderr is not the user's), and config show, which says it all itself.
var quietCommands = map[string]bool{
	"__complete": true, "__completeNoDesc": true, "completion": true, "help": true, "config show": true,
}

// bindCommands makes the Factory learn which command runs, before it runs.
func (f *Factory) bindCommands(root *cobra.Command) {
	pre := root.PersistentPreRunE
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		f.command = cmd
		if pre != nil {
			return pre(cmd, args)
		}
		return nil
	}
}

// commandPath is the running command without the root's name ("numbers
// list"), "" if unknown.
func (f *Factory) commandPath() string {
	if f.command == nil {
		return ""
	}
	path := f.command.CommandPath()
	if root := f.command.Root().Name(); len(path) > len(root) {
		return path[len(root)+1:]
	}
	return ""
}

func (f *Factory) dbUse() dbUse {
	path := f.commandPath()
	if path == "" {
		return dbCreate // a test running a command on its own
	}
	return commandDB[path] // dbRead unless listed
}

func (f *Factory) quiet() bool {
	if f.command == nil {
		return false
	}
	return quietCommands[f.commandPath()] || quietCommands[f.command.Name()]
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
	if !f.quiet() {
		for _, n := range cfg.Notices() {
			f.IO.Statusf("%s", n)
		}
		if p := voiceLanguageProblem(cfg); p != "" {
			f.IO.Statusf("Warning: %s; serve refuses to start with it.", p)
		}
	}
	return cfg, nil
}

// DB opens the state database once, every commit fsynced: the CLI's
// writes are few and must survive a power loss. db is a PostgreSQL URL
// (postgres:// or postgresql://) or else a SQLite file path.
func (f *Factory) DB() (maskcall.Store, error) { return f.openDB(false) }

// ServeDB opens the state database for serve: on SQLite, commits grouped
// and not fsynced one by one (sqlite.DB.FastCommits). It says on stderr
// which database it serves, and warns when its pool has no active number:
// every call would then hear "not in service".
func (f *Factory) ServeDB() (maskcall.Store, error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	dsn := cfg.String("db")
	isNew := false
	if !postgres.IsURL(dsn) {
		_, err := os.Stat(dsn)
		isNew = errors.Is(err, fs.ErrNotExist)
	}
	db, err := f.openDB(true)
	if err != nil {
		return nil, err
	}
	state := ""
	if isNew {
		state = ", new and empty"
	}
	f.IO.Statusf("Database: %s (%s%s)", displayDB(dsn), cfg.Source("db"), state)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	active := maskcall.NumberActive
	if nums, err := db.FindNumbers(ctx, maskcall.NumberFilter{Status: &active}, f.Now()); err == nil && len(nums) == 0 {
		f.IO.Statusf("Warning: this database's pool has no active numbers, so every call will hear \"not in service\". " +
			"Is this the database you provisioned? Point --db or MASKCALL_DB at it, or run `maskcall numbers provision` with this one.")
	}
	return db, nil
}

// displayDB is the database as the user may see it: an absolute path, or
// a URL with its password hidden.
func displayDB(dsn string) string {
	if postgres.IsURL(dsn) {
		return maskURL(dsn)
	}
	if abs, err := filepath.Abs(dsn); err == nil {
		return abs
	}
	return dsn
}

// servePoolSize is serve's PostgreSQL pool. Its answers wait on a commit
// (the call record), which waits on the server's WAL flush: with the
// CLI's few connections, 32 webhooks at once queued behind 4 flushes in
// turn. PostgreSQL flushes the commits waiting together at once (group
// commit), so more of them in flight cost no more flushes. pool_max_conns
// in the URL overrides it.
const servePoolSize = 16

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
		if fast {
			db.MaxConns = servePoolSize
		}
		if err := db.Open(); err != nil {
			if maskcall.ErrorCode(err) == maskcall.ESTORE {
				return nil, withHint(err, "Check that PostgreSQL runs and the URL given by --db, MASKCALL_DB or db in maskcall.yaml.")
			}
			return nil, err
		}
		f.db, f.closeDB = db, db.Close
		return db, nil
	}
	path := cfg.String("db")
	if f.dbUse() == dbRead {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, maskcall.Errorf(maskcall.ECONFIG, "There is no database at %s (db from %s).", displayDB(path), cfg.Source("db")).
				WithReason("no_database").
				WithHint("Point --db or MASKCALL_DB at the existing one, or create it by renting numbers: `maskcall numbers provision --country GB --count 2`.")
		}
	}
	db := sqlite.NewDB(path)
	db.FastCommits = fast
	db.CallJournal = fast // serve answers once a call's record is journaled
	db.Warn = func(msg string) { f.IO.Statusf("Warning: %s", msg) }
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
	urls := map[string]string{}
	for _, k := range configKeys {
		if isVonageURLKey(k.Key) {
			if urls[k.Key], err = cfg.VonageURL(k.Key); err != nil {
				return nil, err
			}
		}
	}
	vc := vonage.Config{
		APIKey: key, APISecret: secret,
		ApplicationID: cfg.String("vonage.application_id"),
		RestURL:       urls["vonage.rest_url"],
		APIURL:        urls["vonage.api_url"],

		IdentityInsightsURL: urls["vonage.identity_insights_url"],
		Timeout:             timeout,
		InboundSMSURL:       inboundSMSURL(cfg),
	}
	if f.vonageTransport != nil {
		vc.HTTPClient = &http.Client{Transport: f.vonageTransport(http.DefaultTransport)}
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

// NumberPool wires the pool to the database and Vonage. For a command
// that needs no database (numbers search) the pool has no Store.
func (f *Factory) NumberPool() (*maskcall.NumberPool, error) {
	var db maskcall.Store
	if f.dbUse() != dbNone {
		var err error
		if db, err = f.DB(); err != nil {
			return nil, err
		}
	}
	vc, err := f.Vonage()
	if err != nil {
		return nil, err
	}
	cfg, _ := f.Config()
	return &maskcall.NumberPool{Store: db, Numbers: vc, ApplicationID: cfg.String("vonage.application_id"), Now: f.Now,
		InboundSMSURL: inboundSMSURL(cfg)}, nil
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
