package cli

import (
	"context"
	"strings"

	"github.com/spf13/cobra"
)

// NewCmdConfig groups the config commands.
func NewCmdConfig(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config <command>",
		Short: "Inspect maskcall's configuration",
		Long: `maskcall reads each setting from, in order of precedence: a flag, the environment
(VONAGE_* names or MASKCALL_<KEY>), a .env file in the working directory, the config file
(--config, else ./maskcall.yaml, else the user config dir's maskcall/config.yaml), and its default.`,
		Example: `  maskcall config show`,
	}
	cmd.AddCommand(NewCmdConfigShow(f, nil))
	return cmd
}

// ConfigShowOptions are the inputs of `config show`.
type ConfigShowOptions struct {
	IO     *IOStreams
	Config func() (*Config, error)
	Output string
}

// NewCmdConfigShow builds `config show`.
func NewCmdConfigShow(f *Factory, runF func(context.Context, *ConfigShowOptions) error) *cobra.Command {
	opts := &ConfigShowOptions{IO: f.IO, Config: f.Config}
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration and where each value came from (secrets masked)",
		Example: `  maskcall config show
  MASKCALL_DB=/tmp/x.db maskcall config show -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return configShowRun(cmd.Context(), opts)
		},
	}
	outputFlag(cmd, &opts.Output)
	return cmd
}

// configEntry is one row of `config show -o json`.
type configEntry struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source string `json:"source"`
	Secret bool   `json:"secret"`
}

func configShowRun(_ context.Context, opts *ConfigShowOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	entries := make([]configEntry, 0, len(configKeys))
	for _, k := range configKeys {
		v := cfg.String(k.Key)
		if k.Secret {
			v = maskSecret(v)
		} else {
			v = maskURL(v) // a password in a URL (https://user:pass@host, postgres://...)
		}
		entries = append(entries, configEntry{Key: k.Key, Value: v, Source: cfg.Source(k.Key), Secret: k.Secret})
	}
	if opts.Output == outputJSON {
		return opts.IO.writeJSON(entries)
	}
	if cfg.File() != "" {
		opts.IO.Statusf("Config file: %s", cfg.File())
	} else {
		opts.IO.Statusf("Config file: none found")
	}
	if file, keys := cfg.DotEnv(); file != "" {
		opts.IO.Statusf(".env: %s (sets %s)", file, orDefault(strings.Join(keys, ", "), "nothing the environment does not"))
	}
	t := newTable(opts.IO, "KEY", "VALUE", "SOURCE")
	for _, e := range entries {
		v := e.Value
		if v == "" {
			v = "-"
		}
		t.add(e.Key, v, e.Source)
	}
	return t.print()
}
