package cli

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"github.com/subosito/gotenv"
)

// configKey describes one setting: its key in maskcall.yaml, the environment
// variables that set it (besides MASKCALL_<KEY>), the flag that sets it, its
// default and whether it is a secret.
type configKey struct {
	Key     string
	Env     []string
	Flag    string
	Default string
	Secret  bool
	Help    string
}

// configKeys is every setting maskcall reads. README's configuration table
// follows it.
var configKeys = []configKey{
	{Key: "db", Flag: "db", Help: "path of the SQLite state file (CLI and serve)"},
	{Key: "vonage.api_key", Env: []string{"VONAGE_API_KEY"}, Help: "account API key (Numbers, SMS, Number Insight)"},
	{Key: "vonage.api_secret", Env: []string{"VONAGE_API_SECRET"}, Secret: true, Help: "account API secret"},
	{Key: "vonage.application_id", Env: []string{"VONAGE_APPLICATION_ID"}, Help: "voice application numbers are linked to"},
	{Key: "vonage.private_key", Env: []string{"VONAGE_PRIVATE_KEY_PATH"}, Help: "path of the application's private key (Voice API)"},
	{Key: "vonage.signature_secret", Env: []string{"VONAGE_SIGNATURE_SECRET"}, Secret: true, Help: "secret Vonage signs webhooks with"},
	{Key: "vonage.rest_url", Env: []string{"VONAGE_REST_URL"}, Default: "https://rest.nexmo.com", Help: "base URL of the Numbers and SMS APIs"},
	{Key: "vonage.api_url", Env: []string{"VONAGE_API_URL"}, Default: "https://api.nexmo.com", Help: "base URL of Number Insight, Voice and Applications"},
	{Key: "vonage.identity_insights_url", Env: []string{"VONAGE_IDENTITY_INSIGHTS_URL"}, Default: "https://api-eu.vonage.com", Help: "base URL of Identity Insights (a regional host)"},
	{Key: "vonage.allow_insecure_url", Default: "false", Help: "accept http:// Vonage URLs that are not loopback (credentials then travel unencrypted)"},
	{Key: "vonage.timeout", Default: "10s", Help: "timeout of one Vonage request"},
	{Key: "sms.template", Default: maskcall.DefaultSMSTemplate, Help: "text sent to participants; {label} is the other's label, {ref} the reference"},
	{Key: "vonage.sms_signature_method", Env: []string{"VONAGE_SMS_SIGNATURE_METHOD"}, Help: "how Vonage signs inbound SMS (md5hash, md5, sha1, sha256, sha512; with vonage.signature_secret); empty: not verified"},
	{Key: "sms.store_text", Default: "false", Help: "keep the texts of relayed messages (default: dropped once relayed)"},
	{Key: "sms.not_in_service_reply", Help: "reply to texts that reach no conversation, at most once a day per sender (empty: none)"},
	{Key: "sms.rate", Default: "30", Help: "most SMS requests per second to Vonage (its limit is 30 per API key)"},
	{Key: "sms.concat_wait", Default: "2m", Help: "how long a long text waits for its missing parts before what arrived is relayed"},
	{Key: "conversation.insight", Default: "auto", Help: "online check of new conversations' numbers: auto, format, basic (deprecated) or none"},
	{Key: "conversation.default_ttl", Default: "0s", Help: "time to live of new conversations when --ttl is not given (0s: none)"},
	{Key: "serve.listen", Default: ":3000", Help: "address serve listens on"},
	{Key: "serve.public_url", Help: "public base URL of serve (e.g. the ngrok URL), for eventUrl"},
	{Key: "serve.api_listen", Help: "address of the /v1 API's own listener (default: the webhook listener)"},
	{Key: "serve.metrics_listen", Help: "address of the Prometheus metrics listener (default: off)"},
	{Key: "serve.route_index", Default: "true", Help: "answer calls from an in-memory index of active routes, kept exact by the store's route version (false: a store query per call)"},
	{Key: "api.rate_limit", Default: "1000", Help: "requests a second each API key may send (bursts of twice that; 0 for no limit)"},
	{Key: "voice.connect_text", Default: "Please wait while we connect your call.", Help: "spoken before connecting"},
	{Key: "voice.not_in_service_text", Default: "The number you have dialled is not in service.", Help: "spoken to strangers and after a conversation ends"},
	{Key: "voice.language", Default: "en-GB", Help: "language of spoken text: a Vonage text-to-speech language code"},
	{Key: "voice.allow_unknown_language", Default: "false", Help: "let serve speak a voice.language this release does not know (one Vonage added since)"},
	{Key: "voice.style", Default: "0", Help: "voice style of spoken text"},
	{Key: "voice.out_of_session", Default: "not_in_service", Help: "what a caller with no active conversation gets: not_in_service, or forward:+NUMBER (a support line, shown the dialled proxy number)"},
	{Key: "callbacks.url", Help: "where signed callbacks of every conversation go (a conversation's own callback URL wins); empty: only conversations with their own"},
	{Key: "callbacks.secret", Secret: true, Help: "whsec_ secret callbacks are signed with (Standard Webhooks); make one with maskcall callbacks secret"},
	{Key: "callbacks.include_numbers", Default: "false", Help: "put participants' real numbers in callbacks (default: labels and positions only)"},
	{Key: "voice.max_call_length", Default: "1h", Help: "longest a connected call may last (at most 2h)"},
}

// envNames returns every environment variable for k, most specific first.
func (k configKey) envNames() []string {
	return append([]string{"MASKCALL_" + strings.ToUpper(strings.ReplaceAll(k.Key, ".", "_"))}, k.Env...)
}

// Config is maskcall's effective configuration.
type Config struct {
	v        *viper.Viper
	file     string // config file read, "" if none
	explicit bool   // file was named by --config
	dotenv   map[string]bool
	// dotenvFile is the .env read ("" if none); dotenvKeys the variables
	// it set, sorted.
	dotenvFile string
	dotenvKeys []string
	flags      *pflag.FlagSet
}

// loadConfig resolves settings with precedence flag > environment > .env >
// config file > default. configFile is --config ("" to look in the usual
// places).
func loadConfig(configFile string, flags *pflag.FlagSet) (*Config, error) {
	c := &Config{v: viper.New(), dotenv: map[string]bool{}, flags: flags}

	// .env sits below real environment variables: a key set in the real
	// environment under any of its names takes nothing from .env.
	if env, err := gotenv.Read(".env"); err == nil {
		realKey := map[string]bool{}
		for _, k := range configKeys {
			for _, name := range k.envNames() {
				if os.Getenv(name) != "" {
					for _, other := range k.envNames() {
						realKey[other] = true
					}
				}
			}
		}
		for k, val := range env {
			if _, set := os.LookupEnv(k); !set && !realKey[k] {
				os.Setenv(k, val)
				c.dotenv[k] = true
				c.dotenvKeys = append(c.dotenvKeys, k)
			}
		}
		sort.Strings(c.dotenvKeys)
		c.dotenvFile = ".env"
		if abs, err := filepath.Abs(".env"); err == nil {
			c.dotenvFile = abs
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, maskcall.Errorf(maskcall.ECONFIG, "Could not read .env: %v.", err)
	}

	for _, k := range configKeys {
		def := k.Default
		if k.Key == "db" {
			def = defaultDBPath()
		}
		c.v.SetDefault(k.Key, def)
		if err := c.v.BindEnv(append([]string{k.Key}, k.envNames()...)...); err != nil {
			return nil, err
		}
		if k.Flag != "" && flags != nil {
			if f := flags.Lookup(k.Flag); f != nil {
				if err := c.v.BindPFlag(k.Key, f); err != nil {
					return nil, err
				}
			}
		}
	}

	explicit := configFile != ""
	if !explicit {
		configFile = defaultConfigFile()
	}
	if configFile != "" {
		c.v.SetConfigFile(configFile)
		c.v.SetConfigType("yaml")
		if err := c.v.ReadInConfig(); err != nil {
			var notFound viper.ConfigFileNotFoundError
			if explicit || !(errors.As(err, &notFound) || errors.Is(err, os.ErrNotExist)) {
				return nil, maskcall.Errorf(maskcall.ECONFIG, "Could not read config file %s: %v.", configFile, err).
					WithHint("Fix the file or point --config elsewhere.")
			}
		} else {
			c.file, c.explicit = configFile, explicit
		}
	}
	return c, nil
}

// defaultConfigFile is ./maskcall.yaml if present, else the user config
// dir's maskcall/config.yaml if present, else "".
func defaultConfigFile() string {
	if _, err := os.Stat("maskcall.yaml"); err == nil {
		return "maskcall.yaml"
	}
	if dir, err := os.UserConfigDir(); err == nil {
		p := filepath.Join(dir, "maskcall", "config.yaml")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// defaultDBPath is where state lives when db is not set: the XDG data dir on
// Linux, the user config dir elsewhere.
func defaultDBPath() string {
	if runtime.GOOS == "linux" {
		if d := os.Getenv("XDG_DATA_HOME"); d != "" {
			return filepath.Join(d, "maskcall", "maskcall.db")
		}
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, ".local", "share", "maskcall", "maskcall.db")
		}
	}
	if dir, err := os.UserConfigDir(); err == nil {
		return filepath.Join(dir, "maskcall", "maskcall.db")
	}
	return "maskcall.db"
}

// String returns a setting.
func (c *Config) String(key string) string { return c.v.GetString(key) }

// Duration returns a duration setting, or an ECONFIG error naming the key.
func (c *Config) Duration(key string) (time.Duration, error) {
	s := c.v.GetString(key)
	d, err := parseDuration(s)
	if err != nil {
		return 0, maskcall.Errorf(maskcall.ECONFIG, "%s is %q, which is not a duration such as 30s, 2h or 7d.", key, s)
	}
	return d, nil
}

// Source says where key's value came from.
func (c *Config) Source(key string) string {
	k, ok := lookupKey(key)
	if !ok {
		return "unknown key"
	}
	if k.Flag != "" && c.flags != nil {
		if f := c.flags.Lookup(k.Flag); f != nil && f.Changed {
			return "flag --" + k.Flag
		}
	}
	for _, env := range k.envNames() {
		if os.Getenv(env) != "" { // viper, too, skips empty variables
			if c.dotenv[env] {
				return ".env " + env
			}
			return "env " + env
		}
	}
	if c.file != "" && c.v.InConfig(key) {
		return "file " + c.file
	}
	return "default"
}

// File is the config file read, "" if none.
func (c *Config) File() string { return c.file }

// Require returns the setting or an ECONFIG error naming the three ways to
// set it.
func (c *Config) Require(key string) (string, error) {
	if v := c.String(key); v != "" {
		return v, nil
	}
	k, _ := lookupKey(key)
	ways := fmt.Sprintf("export %s", k.envNames()[len(k.envNames())-1])
	if k.Flag != "" {
		ways = fmt.Sprintf("pass --%s, %s", k.Flag, ways)
	}
	return "", maskcall.Errorf(maskcall.ECONFIG, "%s is not set.", key).
		WithHint(fmt.Sprintf("Set it: %s=..., add `%s` to maskcall.yaml, or put it in .env.", ways, yamlPath(key)))
}

func yamlPath(key string) string {
	parts := strings.Split(key, ".")
	if len(parts) == 1 {
		return key + ": ..."
	}
	return parts[0] + ": {" + parts[1] + ": ...}"
}

func lookupKey(key string) (configKey, bool) {
	for _, k := range configKeys {
		if k.Key == key {
			return k, true
		}
	}
	return configKey{}, false
}

// maskSecret hides a secret entirely, saying only whether it is set.
func maskSecret(s string) string {
	if s == "" {
		return ""
	}
	return "******** (set)"
}

// Notices are the lines maskcall prints on stderr before a command runs,
// saying which files configured it: a config file it found by itself (not
// one named with --config) and a .env, with the variables it set. Either
// can come from the working directory, so they are never read silently.
func (c *Config) Notices() []string {
	var out []string
	if c.file != "" && !c.explicit {
		file := c.file
		if abs, err := filepath.Abs(file); err == nil {
			file = abs
		}
		out = append(out, fmt.Sprintf("Using config file %s.", file))
	}
	if c.dotenvFile != "" {
		if len(c.dotenvKeys) == 0 {
			out = append(out, fmt.Sprintf("Read %s; the environment already sets everything in it.", c.dotenvFile))
		} else {
			out = append(out, fmt.Sprintf("Using %s: %s.", c.dotenvFile, strings.Join(c.dotenvKeys, ", ")))
		}
	}
	return out
}

// DotEnv is the .env file read ("" if none) and the variables it set.
func (c *Config) DotEnv() (string, []string) { return c.dotenvFile, c.dotenvKeys }

// isVonageURLKey reports whether key holds a Vonage API base URL: such a URL
// receives the API key and secret.
func isVonageURLKey(key string) bool {
	return strings.HasPrefix(key, "vonage.") && strings.HasSuffix(key, "_url") && key != "vonage.allow_insecure_url"
}

// VonageURL returns the Vonage base URL set for key, refusing one that
// would carry the credentials unencrypted to a remote host: it must be
// https, or http to a loopback address (the sandbox), unless
// vonage.allow_insecure_url is true.
func (c *Config) VonageURL(key string) (string, error) {
	raw := strings.TrimSpace(c.String(key))
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", maskcall.Errorf(maskcall.ECONFIG, "%s is %q (from %s), which is not an https:// URL.", key, maskURL(raw), c.Source(key)).
			WithHint(fmt.Sprintf("Set it to Vonage's URL (default %s).", defaultOf(key)))
	}
	if u.Scheme == "https" || isLoopback(u.Hostname()) {
		return raw, nil
	}
	allow, err := c.Bool("vonage.allow_insecure_url")
	if err != nil {
		return "", err
	}
	if allow {
		return raw, nil
	}
	return "", maskcall.Errorf(maskcall.ECONFIG,
		"%s is %s (from %s): plain http to a host that is not loopback would send the Vonage API key and secret unencrypted.",
		key, maskURL(raw), c.Source(key)).
		WithHint(fmt.Sprintf("Use https:// (Vonage's is %s) or, for the sandbox, a loopback address; to accept it anyway, set vonage.allow_insecure_url: true (MASKCALL_VONAGE_ALLOW_INSECURE_URL).", defaultOf(key)))
}

// isLoopback reports whether host is localhost or a loopback IP address
// (127.0.0.0/8, ::1). Names are not resolved: DNS could point anywhere.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func defaultOf(key string) string {
	k, _ := lookupKey(key)
	return k.Default
}

// Bool returns a boolean setting, or an ECONFIG error naming the key.
func (c *Config) Bool(key string) (bool, error) {
	s := strings.TrimSpace(c.v.GetString(key))
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, maskcall.Errorf(maskcall.ECONFIG, "%s is %q, which is not true or false.", key, s)
	}
	return b, nil
}

// maskURL hides a password embedded in a URL (https://user:pass@host, or a
// PostgreSQL URL's password parameter). Other values are returned as they
// are; something that looks like a URL with credentials but does not parse
// is hidden entirely.
func maskURL(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") {
			return "******** (an unreadable URL with credentials)"
		}
		return s
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
