package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/stdwebhook"
	"github.com/spf13/cobra"
)

// NewCmdCallbacks groups the callback commands.
func NewCmdCallbacks(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "callbacks <command>",
		Short: "Signed callbacks to the platform: make a secret, list and redeliver events",
		Long: `serve POSTs an event to the platform for everything that happens to a conversation
(conversation.created, conversation.ended, call.started, call.answered, call.completed,
call.out_of_session), signed as Standard Webhooks specifies, at least once, retried with backoff for
24 hours on timeouts, network errors, 5xx and 429. Events go to the conversation's own callback URL,
or else to callbacks.url.`,
		Example: `  maskcall callbacks secret
  maskcall callbacks list --failed
  maskcall callbacks redeliver evt_3kq7x2mzp4abcdefghijklmnop`,
	}
	cmd.AddCommand(NewCmdCallbacksSecret(f, nil), NewCmdCallbacksList(f, nil), NewCmdCallbacksRedeliver(f, nil))
	return cmd
}

func callbackStore(f *Factory) func() (maskcall.CallbackStore, error) {
	return func() (maskcall.CallbackStore, error) {
		db, err := f.DB()
		if err != nil {
			return nil, err
		}
		cs, ok := db.(maskcall.CallbackStore)
		if !ok {
			return nil, maskcall.Errorf(maskcall.ECONFIG, "This database does not keep callbacks.")
		}
		return cs, nil
	}
}

// CallbacksSecretOptions are the inputs of `callbacks secret`.
type CallbacksSecretOptions struct {
	IO     *IOStreams
	Output string
}

// NewCmdCallbacksSecret builds `callbacks secret`.
func NewCmdCallbacksSecret(f *Factory, runF func(context.Context, *CallbacksSecretOptions) error) *cobra.Command {
	opts := &CallbacksSecretOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Print a new whsec_ secret to sign callbacks with",
		Long: `Print a new random secret (whsec_ and 32 random bytes in base64) to standard output. Give it to
serve as callbacks.secret (MASKCALL_CALLBACKS_SECRET) and to the platform's receiver, which verifies
each callback with it using a Standard Webhooks library. Nothing is stored.`,
		Example: `  maskcall callbacks secret
  export MASKCALL_CALLBACKS_SECRET=$(maskcall callbacks secret)`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return callbacksSecretRun(cmd.Context(), opts)
		},
	}
	outputFlag(cmd, &opts.Output)
	return cmd
}

func callbacksSecretRun(_ context.Context, opts *CallbacksSecretOptions) error {
	s := stdwebhook.NewSecret()
	if opts.Output == outputJSON {
		return opts.IO.writeJSON(struct {
			Secret string `json:"secret"`
		}{s})
	}
	fmt.Fprintln(opts.IO.Out, s)
	opts.IO.Statusf("Set it as callbacks.secret in maskcall.yaml or MASKCALL_CALLBACKS_SECRET for serve, with callbacks.url, and give it to the receiver to verify signatures.")
	return nil
}

// CallbacksListOptions are the inputs of `callbacks list`.
type CallbacksListOptions struct {
	IO           *IOStreams
	Store        func() (maskcall.CallbackStore, error)
	Now          func() time.Time
	Failed       bool
	Conversation string
	Limit        int
	Output       string
}

// NewCmdCallbacksList builds `callbacks list`.
func NewCmdCallbacksList(f *Factory, runF func(context.Context, *CallbacksListOptions) error) *cobra.Command {
	opts := &CallbacksListOptions{IO: f.IO, Store: callbackStore(f), Now: f.Now}
	cmd := &cobra.Command{
		Use:   "list [--failed] [--conversation ID]",
		Short: "List callback events, newest first, with their delivery state",
		Long: `List callback events, newest first: id, type, conversation, state (pending, delivering, delivered,
failed), attempts, next attempt, and the last attempt's status or error. Participants' numbers are
never shown. A failed event can be sent again with maskcall callbacks redeliver.`,
		Example: `  maskcall callbacks list
  maskcall callbacks list --failed
  maskcall callbacks list --conversation cv_3kq7x2mzp4ab -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			if opts.Limit < 0 {
				return flagErrorf("--limit must be 0 (all) or more")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return callbacksListRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Failed, "failed", false, "only events given up on (refused with a 4xx, or retried for 24 hours)")
	cmd.Flags().StringVar(&opts.Conversation, "conversation", "", "only this conversation's events")
	cmd.Flags().IntVar(&opts.Limit, "limit", 100, "at most this many (0 for all)")
	outputFlag(cmd, &opts.Output)
	return cmd
}

// callbackJSON is a callback as `callbacks list -o json` prints it: the
// delivery, and the event without its data (which may hold numbers).
type callbackJSON struct {
	ID             string     `json:"id"`
	Type           string     `json:"type"`
	ConversationID string     `json:"conversation_id"`
	CreatedAt      time.Time  `json:"created_at"`
	State          string     `json:"state"`
	Attempts       int        `json:"attempts"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	LastStatus     int        `json:"last_status"`
	LastError      string     `json:"last_error"`
	DeliveredAt    *time.Time `json:"delivered_at"`
	OwnURL         bool       `json:"conversation_url"`
}

func toCallbackJSON(cb *maskcall.Callback) callbackJSON {
	j := callbackJSON{ID: cb.Event.ID, Type: cb.Event.Type, ConversationID: cb.Event.Data.ConversationID,
		CreatedAt: cb.Event.CreatedAt, State: string(cb.State), Attempts: cb.Attempts, LastStatus: cb.LastStatus,
		LastError: cb.LastError, DeliveredAt: cb.DeliveredAt, OwnURL: cb.URL != ""}
	if cb.State == maskcall.CallbackPending {
		next := cb.NextAttemptAt
		j.NextAttemptAt = &next
	}
	return j
}

func callbacksListRun(ctx context.Context, opts *CallbacksListOptions) error {
	store, err := opts.Store()
	if err != nil {
		return err
	}
	f := maskcall.CallbackFilter{ConversationID: opts.Conversation, Limit: opts.Limit}
	if opts.Failed {
		f.State = maskcall.CallbackFailed
	}
	cbs, err := store.FindCallbacks(ctx, f)
	if err != nil {
		return err
	}
	if opts.Output == outputJSON {
		out := make([]callbackJSON, 0, len(cbs))
		for _, cb := range cbs {
			out = append(out, toCallbackJSON(cb))
		}
		return opts.IO.writeJSON(out)
	}
	if len(cbs) == 0 {
		if opts.Failed {
			opts.IO.Statusf("No failed callbacks.")
		} else {
			opts.IO.Statusf("No callbacks. Events are kept once callbacks.url is set for serve, or for conversations created with a callback URL.")
		}
		return nil
	}
	now := opts.Now()
	t := newTable(opts.IO, "ID", "TYPE", "CONVERSATION", "STATE", "ATTEMPTS", "NEXT ATTEMPT", "LAST")
	for _, cb := range cbs {
		j := toCallbackJSON(cb)
		last := cb.LastError
		if last == "" && cb.LastStatus != 0 {
			last = fmt.Sprint(cb.LastStatus)
		}
		t.add(j.ID, j.Type, orDash(j.ConversationID), j.State, fmt.Sprint(j.Attempts), opts.IO.formatTime(j.NextAttemptAt, now), orDash(last))
	}
	return t.print()
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// CallbacksRedeliverOptions are the inputs of `callbacks redeliver`.
type CallbacksRedeliverOptions struct {
	IO     *IOStreams
	Store  func() (maskcall.CallbackStore, error)
	Now    func() time.Time
	ID     string
	Output string
}

// NewCmdCallbacksRedeliver builds `callbacks redeliver`.
func NewCmdCallbacksRedeliver(f *Factory, runF func(context.Context, *CallbacksRedeliverOptions) error) *cobra.Command {
	opts := &CallbacksRedeliverOptions{IO: f.IO, Store: callbackStore(f), Now: f.Now}
	cmd := &cobra.Command{
		Use:   "redeliver ID",
		Short: "Send a failed or delivered callback event again",
		Long: `Make a failed or delivered event due now: a running serve sends it within seconds, with the same
webhook-id (receivers dedupe on it), and retries it for another 24 hours if it fails.`,
		Example: `  maskcall callbacks list --failed
  maskcall callbacks redeliver evt_3kq7x2mzp4abcdefghijklmnop`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			opts.ID = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return callbacksRedeliverRun(cmd.Context(), opts)
		},
	}
	outputFlag(cmd, &opts.Output)
	return cmd
}

func callbacksRedeliverRun(ctx context.Context, opts *CallbacksRedeliverOptions) error {
	store, err := opts.Store()
	if err != nil {
		return err
	}
	cb, err := store.RedeliverCallback(ctx, opts.ID, opts.Now())
	if err != nil {
		return err
	}
	if opts.Output == outputJSON {
		return opts.IO.writeJSON(toCallbackJSON(cb))
	}
	opts.IO.Statusf("Callback %s (%s) is due again; a running serve delivers it shortly.", cb.Event.ID, cb.Event.Type)
	return nil
}
