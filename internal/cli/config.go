package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
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
	{Key: "voice.connect_text", Default: "Please wait while we connect your call.", Help: "spoken before connecting"},
	{Key: "voice.not_in_service_text", Default: "The number you have dialled is not in service.", Help: "spoken to strangers and after a conversation ends"},
	{Key: "voice.language", Default: "en-GB", Help: "language of spoken text"},
	{Key: "voice.style", Default: "0", Help: "voice style of spoken text"},
	{Key: "voice.max_call_length", Default: "1h", Help: "longest a connected call may last (at most 2h)"},
}

// envNames returns every environment variable for k, most specific first.
func (k configKey) envNames() []string {
	return append([]string{"MASKCALL_" + strings.ToUpper(strings.ReplaceAll(k.Key, ".", "_"))}, k.Env...)
}

// Config is maskcall's effective configuration.
type Config struct {
	v      *viper.Viper
	file   string // config file read, "" if none
	dotenv map[string]bool
	flags  *pflag.FlagSet
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
			}
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
			c.file = configFile
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
