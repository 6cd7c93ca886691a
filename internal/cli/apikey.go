package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/spf13/cobra"
)

// NewCmdAPIKey groups the API key commands.
func NewCmdAPIKey(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apikey <command>",
		Short: "Make, list and revoke keys of the HTTP API",
		Long: `API keys let a platform's backend use the HTTP API that serve offers under /v1/
(Authorization: Bearer <key>). A key is shown once, when it is made; maskcall keeps only its hash.`,
		Example: `  maskcall apikey create --name dispatch
  maskcall apikey create --name reporting --read-only
  maskcall apikey list
  maskcall apikey revoke dispatch`,
	}
	cmd.AddCommand(NewCmdAPIKeyCreate(f, nil), NewCmdAPIKeyList(f, nil), NewCmdAPIKeyRevoke(f, nil))
	return cmd
}

func apiKeyStore(f *Factory) func() (maskcall.APIKeyStore, error) {
	return func() (maskcall.APIKeyStore, error) {
		db, err := f.DB()
		if err != nil {
			return nil, err
		}
		ks, ok := db.(maskcall.APIKeyStore)
		if !ok {
			return nil, maskcall.Errorf(maskcall.ECONFIG, "This database does not keep API keys.")
		}
		return ks, nil
	}
}

// APIKeyCreateOptions are the inputs of `apikey create`.
type APIKeyCreateOptions struct {
	IO       *IOStreams
	Store    func() (maskcall.APIKeyStore, error)
	Now      func() time.Time
	Name     string
	ReadOnly bool
	Output   string
}

// NewCmdAPIKeyCreate builds `apikey create`.
func NewCmdAPIKeyCreate(f *Factory, runF func(context.Context, *APIKeyCreateOptions) error) *cobra.Command {
	opts := &APIKeyCreateOptions{IO: f.IO, Store: apiKeyStore(f), Now: f.Now}
	cmd := &cobra.Command{
		Use:   "create --name NAME [--read-only]",
		Short: "Make an API key; it is printed once",
		Long: `Make an API key for the HTTP API. The key is printed once, to standard output; store it in your
backend's secrets now, as maskcall keeps only its hash. A --read-only key may list and read but
not create, end or notify.`,
		Example: `  maskcall apikey create --name dispatch
  maskcall apikey create --name reporting --read-only -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			if opts.Name == "" {
				return flagErrorf("--name is required, e.g. --name dispatch")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return apiKeyCreateRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Name, "name", "", "what the key is for, e.g. dispatch (required, unique)")
	cmd.Flags().BoolVar(&opts.ReadOnly, "read-only", false, "the key may only read")
	outputFlag(cmd, &opts.Output)
	return cmd
}

func apiKeyCreateRun(ctx context.Context, opts *APIKeyCreateOptions) error {
	secret, k, err := maskcall.NewAPIKey(opts.Name, opts.ReadOnly, opts.Now())
	if err != nil {
		return err
	}
	store, err := opts.Store()
	if err != nil {
		return err
	}
	if err := store.CreateAPIKey(ctx, k); err != nil {
		return err // the hint table words a taken name's advice
	}
	if opts.Output == outputJSON {
		return opts.IO.writeJSON(struct {
			Key string `json:"key"`
			*maskcall.APIKey
		}{secret, k})
	}
	fmt.Fprintln(opts.IO.Out, secret)
	access := "read-write"
	if k.ReadOnly {
		access = "read-only"
	}
	opts.IO.Statusf("Created %s API key %s (%s). It is shown only this once: store it now.", access, k.Name, k.ID)
	return nil
}

// APIKeyListOptions are the inputs of `apikey list`.
type APIKeyListOptions struct {
	IO     *IOStreams
	Store  func() (maskcall.APIKeyStore, error)
	Now    func() time.Time
	All    bool
	Output string
}

// NewCmdAPIKeyList builds `apikey list`.
func NewCmdAPIKeyList(f *Factory, runF func(context.Context, *APIKeyListOptions) error) *cobra.Command {
	opts := &APIKeyListOptions{IO: f.IO, Store: apiKeyStore(f), Now: f.Now}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List API keys: name, prefix, access, created, last used",
		Example: `  maskcall apikey list
  maskcall apikey list --all -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return apiKeyListRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "include revoked keys")
	outputFlag(cmd, &opts.Output)
	return cmd
}

func apiKeyListRun(ctx context.Context, opts *APIKeyListOptions) error {
	store, err := opts.Store()
	if err != nil {
		return err
	}
	keys, err := store.FindAPIKeys(ctx, opts.All)
	if err != nil {
		return err
	}
	if opts.Output == outputJSON {
		if keys == nil {
			keys = []*maskcall.APIKey{}
		}
		return opts.IO.writeJSON(keys)
	}
	if len(keys) == 0 {
		opts.IO.Statusf("No API keys. Make one with `maskcall apikey create --name NAME`.")
		return nil
	}
	now := opts.Now()
	t := newTable(opts.IO, "ID", "NAME", "PREFIX", "ACCESS", "CREATED", "LAST USED", "REVOKED")
	for _, k := range keys {
		access := "read-write"
		if k.ReadOnly {
			access = "read-only"
		}
		t.add(k.ID, k.Name, k.Prefix+"…", access, opts.IO.formatTime(&k.CreatedAt, now),
			opts.IO.formatTime(k.LastUsedAt, now), opts.IO.formatTime(k.RevokedAt, now))
	}
	return t.print()
}

// APIKeyRevokeOptions are the inputs of `apikey revoke`.
type APIKeyRevokeOptions struct {
	IO    *IOStreams
	Store func() (maskcall.APIKeyStore, error)
	Now   func() time.Time
	Key   string
	Yes   bool
}

// NewCmdAPIKeyRevoke builds `apikey revoke`.
func NewCmdAPIKeyRevoke(f *Factory, runF func(context.Context, *APIKeyRevokeOptions) error) *cobra.Command {
	opts := &APIKeyRevokeOptions{IO: f.IO, Store: apiKeyStore(f), Now: f.Now}
	cmd := &cobra.Command{
		Use:   "revoke NAME|ID",
		Short: "Revoke an API key: requests with it are refused from now on",
		Long: `Revoke an API key by its name or id. Requests with it get 401 at once, on every serve using
this database. Asks for confirmation on a terminal; --yes skips it (scripts must pass it).`,
		Example: `  maskcall apikey revoke dispatch
  maskcall apikey revoke ak_3kq7x2mzp4ab --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Key = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return apiKeyRevokeRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "revoke without asking")
	return cmd
}

func apiKeyRevokeRun(ctx context.Context, opts *APIKeyRevokeOptions) error {
	if !opts.Yes {
		if err := confirmDestructive(opts.IO, "Revoke API key "+opts.Key+", refusing every request made with it", "Nothing was revoked."); err != nil {
			return err
		}
	}
	store, err := opts.Store()
	if err != nil {
		return err
	}
	k, err := store.RevokeAPIKey(ctx, opts.Key, opts.Now())
	if maskcall.ErrorCode(err) == maskcall.ENOTFOUND {
		return maskcall.Errorf(maskcall.ENOTFOUND, "No API key that is not revoked has the name or id %q.", opts.Key).
			WithHint("Run `maskcall apikey list` to see them.")
	} else if err != nil {
		return err
	}
	opts.IO.Statusf("Revoked API key %s (%s).", k.Name, k.ID)
	return nil
}
