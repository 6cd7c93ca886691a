package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/phone"
	"github.com/spf13/cobra"
)

// NewCmdConversation groups the conversation commands.
func NewCmdConversation(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "conversation <command>",
		Aliases: []string{"conv"},
		Short:   "Pair two real numbers through proxy numbers, list and end pairings",
		Long: `A conversation pairs two real phone numbers. Each participant is given a proxy number from
the pool: the number they dial to reach the other, and the caller ID they see when the other calls.`,
		Example: `  maskcall conversation create +447700900123 +447700900456 --label-a driver --label-b rider --ttl 2h
  maskcall conversation list
  maskcall conversation end cv_abc123`,
	}
	cmd.AddCommand(
		NewCmdConversationCreate(f, nil),
		NewCmdConversationList(f, nil),
		NewCmdConversationShow(f, nil),
		NewCmdConversationEnd(f, nil),
		NewCmdConversationNotify(f, nil),
		NewCmdConversationPurge(f, nil),
	)
	return cmd
}

// ConversationCreateOptions are the inputs of `conversation create`.
type ConversationCreateOptions struct {
	IO       *IOStreams
	Service  func(withVonage bool) (*maskcall.ConversationService, error)
	Config   func() (*Config, error)
	Numbers  []string // as typed
	Country  string
	LabelA   string
	LabelB   string
	Ref      string
	TTL      time.Duration
	TTLSet   bool
	NoSMS    bool
	Insight  string // auto, format, basic, none; "" for conversation.insight
	AutoProv bool
	Mode     string // voice, sms, voice-and-sms; "" for the default
	// CallbackURL is where this conversation's callbacks go ("" for
	// callbacks.url).
	CallbackURL string
	Now         func() time.Time
	Output      string
}

// NewCmdConversationCreate builds `conversation create`.
func NewCmdConversationCreate(f *Factory, runF func(context.Context, *ConversationCreateOptions) error) *cobra.Command {
	opts := &ConversationCreateOptions{IO: f.IO, Service: f.ConversationService, Config: f.Config, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "create NUMBER_A NUMBER_B",
		Short: "Pair two numbers and give each a proxy number",
		Long: `Pair two real numbers. Numbers may be written "+44 7700 900123", "447700900123", or nationally
("07700 900123") with --country. They are always checked offline (libphonenumber), then online
as --insight says:
  auto    the default: Identity Insights' format insight when the application's id and private
          key are configured (vonage.application_id, vonage.private_key), else offline only
  format  Identity Insights' format insight; needs the application's private key
  basic   Number Insight basic (deprecated: Vonage retires Number Insight in February 2027)
  none    offline only
A number Vonage calls invalid is refused, and if Vonage cannot be asked nothing is created.
Each participant is then texted the number to call (unless --no-sms).`,
		Example: `  maskcall conversation create +447700900123 +447700900456 --label-a driver --label-b rider
  maskcall conversation create "07700 900123" "07700 900456" --country GB --ref ride-8812 --ttl 2h
  maskcall conversation create +12025550123 +447700900456 --no-sms --insight none -o json
  maskcall conversation create +447700900123 +447700900456 --insight format
  maskcall conversation create +447700900123 +447700900456 --callback-url https://platform.example/maskcall`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			if opts.Insight != "" && !slices.Contains(maskcall.InsightChoices, opts.Insight) {
				return flagErrorf("--insight must be %s, not %q", maskcall.InsightChoiceList(), opts.Insight)
			}
			if opts.Country != "" {
				var err error
				if opts.Country, err = parseCountry(opts.Country); err != nil {
					return err
				}
			}
			if opts.Mode != "" {
				m, err := maskcall.ParseConversationMode(opts.Mode)
				if err != nil {
					return &flagError{err}
				}
				opts.Mode = string(m)
			}
			opts.TTLSet = cmd.Flags().Changed("ttl")
			opts.Numbers = args
			// The domain's rules, checked before anything is opened; the
			// service checks them again for every caller.
			for _, l := range []struct{ label, which string }{{opts.LabelA, "A"}, {opts.LabelB, "B"}} {
				if _, err := maskcall.NormalizeLabel(l.label, l.which); err != nil {
					return &flagError{err}
				}
			}
			if err := maskcall.CheckRef(opts.Ref); err != nil {
				return &flagError{err}
			}
			if opts.CallbackURL != "" {
				if err := maskcall.ValidateCallbackURL(opts.CallbackURL); err != nil {
					return &flagError{err}
				}
			}
			if opts.TTLSet {
				if err := maskcall.CheckTTL(opts.TTL); err != nil {
					return &flagError{err}
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return conversationCreateRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Ref, "ref", "", "your reference, e.g. a ride or order id")
	fl.Var(durationValue{&opts.TTL}, "ttl", "end the conversation after this long, e.g. 2h or 7d, at least 1m (default conversation.default_ttl)")
	fl.StringVar(&opts.LabelA, "label-a", "", "what participant A is called in texts, e.g. driver")
	fl.StringVar(&opts.LabelB, "label-b", "", "what participant B is called in texts, e.g. rider")
	fl.StringVar(&opts.Country, "country", "", "country of numbers written in national form, e.g. GB")
	fl.BoolVar(&opts.NoSMS, "no-sms", false, "do not text the participants their proxy numbers")
	fl.StringVar(&opts.Insight, "insight", "", "online check of the numbers: auto, format, basic (deprecated) or none (default conversation.insight, else auto)")
	_ = cmd.RegisterFlagCompletionFunc("insight", cobra.FixedCompletions(maskcall.InsightChoices, cobra.ShellCompDirectiveNoFileComp))
	fl.BoolVar(&opts.AutoProv, "auto-provision", false, "rent and configure a number if the pool has none free")
	fl.StringVar(&opts.Mode, "mode", "", "how they reach each other: voice, sms or voice-and-sms (default voice-and-sms when proxies that can text are free, else voice)")
	_ = cmd.RegisterFlagCompletionFunc("mode", cobra.FixedCompletions([]string{"voice", "sms", "voice-and-sms"}, cobra.ShellCompDirectiveNoFileComp))
	fl.StringVar(&opts.CallbackURL, "callback-url", "", "where this conversation's signed callbacks go, an absolute http(s) URL (default callbacks.url)")
	outputFlag(cmd, &opts.Output)
	return cmd
}

func conversationCreateRun(ctx context.Context, opts *ConversationCreateOptions) error {
	var parts [2]maskcall.Participant
	for i, raw := range opts.Numbers {
		n, err := phone.Parse(raw, opts.Country)
		if err != nil {
			return wrapParticipant(err, i)
		}
		parts[i] = maskcall.Participant{Number: n.E164, Country: n.Country}
	}
	parts[0].Label, parts[1].Label = opts.LabelA, opts.LabelB
	ttl := opts.TTL
	if !opts.TTLSet {
		cfg, err := opts.Config()
		if err != nil {
			return err
		}
		if ttl, err = cfg.Duration("conversation.default_ttl"); err != nil {
			return err
		}
	}
	insight, err := resolveInsight(opts)
	if err != nil {
		return err
	}
	svc, err := opts.Service(insight != maskcall.InsightNone || !opts.NoSMS || opts.AutoProv)
	if err != nil {
		return err
	}
	res, err := svc.Create(ctx, maskcall.CreateRequest{
		A: parts[0], B: parts[1], Ref: opts.Ref, TTL: ttl,
		Insight: insight, Notify: !opts.NoSMS, AutoProvision: opts.AutoProv,
		Mode: maskcall.ConversationMode(opts.Mode), CallbackURL: opts.CallbackURL,
	})
	if err != nil {
		return err
	}
	for _, n := range res.Provisioned {
		opts.IO.Statusf("Rented %s for this conversation (status %s).", n.Number, n.Status)
	}
	c := res.Conversation
	switch {
	case res.Existing:
		opts.IO.Statusf("Conversation %s already pairs these numbers with ref %q; nothing was created or texted.", c.ID, c.Ref)
	case len(res.SamePair) > 0:
		opts.IO.Statusf("Warning: these numbers already have %d other active conversation(s) (%s); this one uses other proxy numbers. Give the same --ref to have a retry return an existing one instead.",
			len(res.SamePair), strings.Join(res.SamePair, ", "))
	}
	if opts.Output == outputJSON {
		if err := opts.IO.writeJSON(c); err != nil {
			return err
		}
	} else {
		if !res.Existing {
			opts.IO.Statusf("Created conversation %s.", c.ID)
		}
		printConversation(opts.IO, c, time.Now())
	}
	var failed int
	for _, n := range res.Notifications {
		if n.Err != nil {
			failed++
			opts.IO.Statusf("Could not text %s: %s", maskcall.MaskNumber(n.Participant.Number), advice(n.Err))
		}
	}
	if failed > 0 {
		return notifyFailed(res.Notifications, fmt.Sprintf("Conversation %s was created, but %d of 2 text messages failed.", c.ID, failed),
			fmt.Sprintf("send them with `maskcall conversation notify %s`", c.ID))
	}
	return nil
}

// resolveInsight picks the online check from --insight, else
// conversation.insight, and warns on stderr when it is deprecated.
func resolveInsight(opts *ConversationCreateOptions) (maskcall.InsightKind, error) {
	cfg, err := opts.Config()
	if err != nil {
		return "", err
	}
	choice, fromFlag := opts.Insight, opts.Insight != ""
	if !fromFlag {
		choice = cfg.String("conversation.insight")
	}
	keyed := cfg.String("vonage.application_id") != "" && cfg.String("vonage.private_key") != ""
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	kind, err := maskcall.ResolveInsight(choice, keyed, now())
	if err != nil {
		if maskcall.ErrorCode(err) == maskcall.EINVALID && !fromFlag {
			return "", maskcall.Errorf(maskcall.ECONFIG, "conversation.insight is %q; use %s.", choice, maskcall.InsightChoiceList()).
				WithReason("insight_setting")
		}
		return "", err
	}
	if w := kind.DeprecationWarning(); w != "" {
		opts.IO.Statusf("Warning: %s Use --insight format, or auto (the default), instead.", w)
	}
	return kind, nil
}

// notifyFailed is the error for failed texts: EVONAGEAUTH (exit 4) if
// Vonage refused the credentials, whose fix comes first, else EUPSTREAM.
func notifyFailed(notes []maskcall.Notification, message, retry string) error {
	for _, n := range notes {
		if maskcall.ErrorCode(n.Err) == maskcall.EVONAGEAUTH {
			return &maskcall.Error{Code: maskcall.EVONAGEAUTH, Err: n.Err, Message: message,
				Hint: strings.TrimSuffix(orDefault(hintFor(hintContext{}, n.Err), "Check the Vonage credentials."), ".") + "; then " + retry + "."}
		}
	}
	return &maskcall.Error{Code: maskcall.EUPSTREAM, Message: message, Hint: strings.ToUpper(retry[:1]) + retry[1:] + "."}
}

// wrapParticipant says which argument err is about, keeping its code; the
// advice comes from err (hints.go).
func wrapParticipant(err error, i int) error {
	code, msg := maskcall.EINVALIDNUMBER, maskcall.ErrorMessage(err)
	var e *maskcall.Error
	if errors.As(err, &e) {
		code, msg = e.Code, e.Message
	}
	return &flagError{&maskcall.Error{Code: code, Err: err, Message: fmt.Sprintf("NUMBER_%c: %s", 'A'+i, msg)}}
}

func printConversation(io *IOStreams, c *maskcall.Conversation, now time.Time) {
	fmt.Fprintf(io.Out, "ID:        %s\n", c.ID)
	if c.Ref != "" {
		fmt.Fprintf(io.Out, "Ref:       %s\n", c.Ref)
	}
	status := string(c.Status)
	if c.Status == maskcall.ConversationEnded && c.EndReason != "" {
		status += " (" + c.EndReason + ")"
	}
	fmt.Fprintf(io.Out, "Status:    %s\n", status)
	fmt.Fprintf(io.Out, "Created:   %s\n", io.formatTime(&c.CreatedAt, now))
	if c.ExpiresAt != nil {
		fmt.Fprintf(io.Out, "Expires:   %s\n", io.formatTime(c.ExpiresAt, now))
	}
	if c.EndedAt != nil {
		fmt.Fprintf(io.Out, "Ended:     %s\n", io.formatTime(c.EndedAt, now))
	}
	t := newTable(io, "PARTICIPANT", "NUMBER", "DIALS", "LABEL")
	t.io = &IOStreams{Out: io.Out, OutTTY: true}
	for i, p := range c.Participants {
		t.add(string(rune('A'+i)), p.Number, p.ProxyNumber, p.Label)
	}
	t.print()
}

// ConversationListOptions are the inputs of `conversation list`.
type ConversationListOptions struct {
	IO     *IOStreams
	Store  func() (maskcall.ConversationStore, error)
	Now    func() time.Time
	Status string
	Ref    string
	Limit  int
	After  string
	Output string
}

// NewCmdConversationList builds `conversation list`.
func NewCmdConversationList(f *Factory, runF func(context.Context, *ConversationListOptions) error) *cobra.Command {
	opts := &ConversationListOptions{IO: f.IO, Now: f.Now, Store: func() (maskcall.ConversationStore, error) { return f.DB() }}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List conversations, newest first",
		Long: `List conversations, newest first, a page at a time (--limit, 100 by default).
When more match, stderr says how many and prints the --after cursor of the
next page; cursors stay valid as conversations are added or end.

Statuses: active (routes calls), expired (its time ran out; not yet recorded
as ended by a sweep), ended (ended on request, or an expiry a sweep recorded).`,
		Example: `  maskcall conversation list
  maskcall conversation list --status all --ref ride-8812 -o json
  maskcall conversation list --status all --after c1.MjAzMC0wMS0wMlQwMzowNDowNVogY3ZfYWJj`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			switch opts.Status {
			case "active", "expired", "ended", "all":
			default:
				return flagErrorf("--status must be active, expired, ended or all, not %q", opts.Status)
			}
			if opts.After != "" {
				if _, _, err := maskcall.ParseConversationCursor(opts.After); err != nil {
					return flagErrorf("--after: %s", maskcall.ErrorMessage(err))
				}
			}
			if opts.Limit < 0 {
				return flagErrorf("--limit must be positive")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return conversationListRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Status, "status", "active", "active, expired, ended or all")
	cmd.Flags().StringVar(&opts.Ref, "ref", "", "only conversations with this reference")
	cmd.Flags().IntVar(&opts.Limit, "limit", 100, "at most this many (0 for all)")
	cmd.Flags().StringVar(&opts.After, "after", "", "start after this cursor (printed on stderr when a page is full)")
	outputFlag(cmd, &opts.Output)
	return cmd
}

func conversationListRun(ctx context.Context, opts *ConversationListOptions) error {
	store, err := opts.Store()
	if err != nil {
		return err
	}
	filter := maskcall.ConversationFilter{Limit: opts.Limit, After: opts.After, CountRemaining: true}
	if opts.Status != "all" {
		st := maskcall.ConversationStatus(opts.Status)
		filter.Status = &st
	}
	if opts.Ref != "" {
		filter.Ref = &opts.Ref
	}
	now := opts.Now()
	page, err := store.FindConversations(ctx, filter, now)
	if err != nil {
		return err
	}
	convs := page.Conversations
	if page.NextCursor != "" {
		// Never truncate silently: say what was left out and how to get it.
		defer opts.IO.Statusf("%d more conversation(s) not shown; for the next page add --after %s (or raise --limit).",
			page.Remaining, page.NextCursor)
	}
	if opts.Output == outputJSON {
		if convs == nil {
			convs = []*maskcall.Conversation{}
		}
		return opts.IO.writeJSON(convs)
	}
	if len(convs) == 0 {
		opts.IO.Statusf("No %s conversations.", opts.Status)
		return nil
	}
	t := newTable(opts.IO, "ID", "REF", "STATUS", "A", "A DIALS", "B", "B DIALS", "CREATED", "EXPIRES")
	for _, c := range convs {
		a, b := c.Participants[0], c.Participants[1]
		t.add(c.ID, c.Ref, string(c.Status), a.Number, a.ProxyNumber, b.Number, b.ProxyNumber,
			opts.IO.formatTime(&c.CreatedAt, now), opts.IO.formatTime(c.ExpiresAt, now))
	}
	return t.print()
}

// ConversationShowOptions are the inputs of `conversation show`.
type ConversationShowOptions struct {
	IO     *IOStreams
	Store  func() (maskcall.Store, error)
	Now    func() time.Time
	ID     string
	Output string
}

// NewCmdConversationShow builds `conversation show`.
func NewCmdConversationShow(f *Factory, runF func(context.Context, *ConversationShowOptions) error) *cobra.Command {
	opts := &ConversationShowOptions{IO: f.IO, Now: f.Now, Store: func() (maskcall.Store, error) { return f.DB() }}
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a conversation, its proxy numbers and its calls",
		Example: `  maskcall conversation show cv_abc123
  maskcall conversation show cv_abc123 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			opts.ID = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return conversationShowRun(cmd.Context(), opts)
		},
	}
	outputFlag(cmd, &opts.Output)
	return cmd
}

// conversationWithCalls is `conversation show -o json`.
type conversationWithCalls struct {
	*maskcall.Conversation
	Calls    []*maskcall.Call    `json:"calls"`
	Messages []*maskcall.Message `json:"messages"`
}

func conversationShowRun(ctx context.Context, opts *ConversationShowOptions) error {
	store, err := opts.Store()
	if err != nil {
		return err
	}
	now := opts.Now()
	c, err := store.FindConversationByID(ctx, opts.ID, now)
	if err != nil {
		return notFoundHint(err, opts.ID)
	}
	calls, err := store.FindCalls(ctx, c.ID)
	if err != nil {
		return err
	}
	if calls == nil {
		calls = []*maskcall.Call{}
	}
	msgs, err := conversationMessages(ctx, store, c.ID)
	if err != nil {
		return err
	}
	if opts.Output == outputJSON {
		return opts.IO.writeJSON(conversationWithCalls{c, calls, msgs})
	}
	printConversation(opts.IO, c, now)
	if err := printMessages(opts.IO, c, msgs, now); err != nil {
		return err
	}
	if len(calls) == 0 {
		fmt.Fprintln(opts.IO.Out, "\nNo calls yet.")
		return nil
	}
	fmt.Fprintln(opts.IO.Out, "\nCalls:")
	t := newTable(opts.IO, "UUID", "FROM", "TO", "STATUS", "DURATION", "STARTED")
	t.io = &IOStreams{Out: opts.IO.Out, OutTTY: true}
	for _, call := range calls {
		t.add(call.UUID, call.From, call.To, call.Status, strconv.Itoa(call.Duration)+"s", opts.IO.formatTime(call.StartedAt, now))
	}
	return t.print()
}

func notFoundHint(err error, id string) error {
	if maskcall.ErrorCode(err) == maskcall.ENOTFOUND {
		return maskcall.Errorf(maskcall.ENOTFOUND, "No conversation has the id %q.", id).
			WithHint("Run `maskcall conversation list --status all` to see them.")
	}
	return err
}

// ConversationEndOptions are the inputs of `conversation end`.
type ConversationEndOptions struct {
	IO      *IOStreams
	Service func(withVonage bool) (*maskcall.ConversationService, error)
	ID      string
	Hangup  bool
	Output  string
}

// NewCmdConversationEnd builds `conversation end`.
func NewCmdConversationEnd(f *Factory, runF func(context.Context, *ConversationEndOptions) error) *cobra.Command {
	opts := &ConversationEndOptions{IO: f.IO, Service: f.ConversationService}
	cmd := &cobra.Command{
		Use:   "end ID",
		Short: "End a conversation: its proxy numbers stop connecting the pair",
		Long: `End a conversation. The next call through its proxy numbers hears "not in service".
Ending an ended conversation does nothing. --hangup also ends calls in progress (Voice API).`,
		Example: `  maskcall conversation end cv_abc123
  maskcall conversation end cv_abc123 --hangup`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			opts.ID = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return conversationEndRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Hangup, "hangup", false, "also hang up calls in progress")
	outputFlag(cmd, &opts.Output)
	return cmd
}

func conversationEndRun(ctx context.Context, opts *ConversationEndOptions) error {
	// Ending needs only the database: a missing Vonage credential must not
	// stop a link from being revoked.
	svc, err := opts.Service(false)
	if err != nil {
		return err
	}
	res, err := svc.End(ctx, opts.ID, false)
	if err != nil {
		return notFoundHint(err, opts.ID)
	}
	if opts.Output == outputJSON {
		if err := opts.IO.writeJSON(res.Conversation); err != nil {
			return err
		}
	} else {
		opts.IO.Statusf("Conversation %s is ended (%s).", res.Conversation.ID, res.Conversation.EndReason)
	}
	if !opts.Hangup {
		return nil
	}
	vsvc, err := opts.Service(true)
	if err != nil {
		return wrapEnded(opts.ID, err)
	}
	hungUp, failed, err := vsvc.HangupCalls(ctx, opts.ID)
	if err != nil {
		return wrapEnded(opts.ID, err)
	}
	for _, uuid := range hungUp {
		opts.IO.Statusf("Hung up call %s.", uuid)
	}
	for _, herr := range failed {
		opts.IO.Statusf("Could not hang up a call: %s", advice(herr))
	}
	if len(failed) > 0 {
		return maskcall.Errorf(maskcall.EUPSTREAM, "Conversation %s ended, but %d call(s) could not be hung up.", opts.ID, len(failed)).
			WithHint("Run the command again with --hangup to retry.")
	}
	return nil
}

// wrapEnded says a conversation was ended although hanging up its calls
// failed, keeping err's code and hint.
func wrapEnded(id string, err error) error {
	var e *maskcall.Error
	if errors.As(err, &e) {
		// The advice stays err's: hints.go looks down the chain.
		return &maskcall.Error{Code: e.Code, Err: err,
			Message: "Conversation " + id + " ended, but its calls were not hung up: " + e.Message}
	}
	return err
}

// ConversationNotifyOptions are the inputs of `conversation notify`.
type ConversationNotifyOptions struct {
	IO      *IOStreams
	Service func(withVonage bool) (*maskcall.ConversationService, error)
	ID      string
}

// NewCmdConversationNotify builds `conversation notify`.
func NewCmdConversationNotify(f *Factory, runF func(context.Context, *ConversationNotifyOptions) error) *cobra.Command {
	opts := &ConversationNotifyOptions{IO: f.IO, Service: f.ConversationService}
	cmd := &cobra.Command{
		Use:     "notify ID",
		Short:   "Text each participant the number to call, again",
		Example: `  maskcall conversation notify cv_abc123`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return conversationNotifyRun(cmd.Context(), opts)
		},
	}
	return cmd
}

func conversationNotifyRun(ctx context.Context, opts *ConversationNotifyOptions) error {
	svc, err := opts.Service(true)
	if err != nil {
		return err
	}
	notes, err := svc.Notify(ctx, opts.ID)
	if err != nil {
		return notFoundHint(err, opts.ID)
	}
	var failed int
	for _, n := range notes {
		if n.Err != nil {
			failed++
			opts.IO.Statusf("Could not text %s: %s", maskcall.MaskNumber(n.Participant.Number), advice(n.Err))
		} else {
			opts.IO.Statusf("Texted %s from %s.", maskcall.MaskNumber(n.Participant.Number), n.Participant.ProxyNumber)
		}
	}
	if failed > 0 {
		return notifyFailed(notes, fmt.Sprintf("%d of %d text messages failed.", failed, len(notes)), "run the command again")
	}
	return nil
}

// ConversationPurgeOptions are the inputs of `conversation purge`.
type ConversationPurgeOptions struct {
	IO          *IOStreams
	Service     func(withVonage bool) (*maskcall.ConversationService, error)
	Now         func() time.Time
	EndedBefore time.Duration
	Yes         bool
	DryRun      bool
	Output      string
}

// NewCmdConversationPurge builds `conversation purge`.
func NewCmdConversationPurge(f *Factory, runF func(context.Context, *ConversationPurgeOptions) error) *cobra.Command {
	opts := &ConversationPurgeOptions{IO: f.IO, Service: f.ConversationService, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "purge --ended-before DURATION",
		Short: "Delete old ended conversations with their numbers and call records",
		Long: `Delete conversations that ended more than DURATION ago, with their participants' numbers and
their call records: a retention policy to run from cron (with --yes). On a terminal it asks
first; elsewhere it needs --yes. --dry-run lists what would be deleted and changes nothing.`,
		Example: `  maskcall conversation purge --ended-before 30d --dry-run
  maskcall conversation purge --ended-before 30d --yes -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			if opts.EndedBefore <= 0 {
				return flagErrorf("--ended-before must be a positive duration such as 30d")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return conversationPurgeRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().Var(durationValue{&opts.EndedBefore}, "ended-before", "purge conversations that ended longer ago than this, e.g. 30d (required)")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask before deleting")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "list what would be deleted, change nothing")
	outputFlag(cmd, &opts.Output)
	_ = cmd.MarkFlagRequired("ended-before")
	return cmd
}

// purgeResult is `conversation purge -o json`.
type purgeResult struct {
	DryRun bool `json:"dry_run"`
	// Purged is how many were deleted, or with DryRun would be.
	Purged int `json:"purged"`
	// EndedBefore is the cutoff: conversations that ended before it go.
	EndedBefore time.Time `json:"ended_before"`
	// IDs lists what a dry run would delete.
	IDs []string `json:"ids,omitempty"`
}

func conversationPurgeRun(ctx context.Context, opts *ConversationPurgeOptions) error {
	svc, err := opts.Service(false)
	if err != nil {
		return err
	}
	res := purgeResult{DryRun: opts.DryRun, EndedBefore: opts.Now().Add(-opts.EndedBefore).UTC()}
	what := "conversations that ended more than " + formatDuration(opts.EndedBefore) + " ago"
	if !opts.DryRun && !opts.Yes {
		if err := canConfirm(opts.IO, "delete "+what); err != nil {
			return err
		}
	}
	if opts.DryRun || !opts.Yes {
		found, err := svc.PurgeCandidates(ctx, opts.EndedBefore)
		if err != nil {
			return err
		}
		res.Purged = len(found)
		if opts.DryRun {
			res.IDs = []string{}
			for _, c := range found {
				res.IDs = append(res.IDs, c.ID)
			}
			if opts.Output == outputJSON {
				return opts.IO.writeJSON(res)
			}
			now := opts.Now()
			t := newTable(opts.IO, "ID", "REF", "STATUS", "ENDED")
			for _, c := range found {
				ended := c.EndedAt
				if ended == nil {
					ended = c.ExpiresAt
				}
				t.add(c.ID, c.Ref, string(c.Status), opts.IO.formatTime(ended, now))
			}
			if err := t.print(); err != nil {
				return err
			}
			opts.IO.Statusf("Would purge %d %s; nothing was changed (--dry-run).", len(found), what)
			return nil
		}
		if len(found) == 0 {
			// Nothing to ask about; purging nothing is harmless.
			opts.IO.Statusf("No %s.", what)
			if opts.Output == outputJSON {
				return opts.IO.writeJSON(res)
			}
			return nil
		}
		if err := confirmDestructive(opts.IO, fmt.Sprintf("Delete %d %s, with their call records", len(found), what), "Nothing was purged."); err != nil {
			return err
		}
	}
	n, err := svc.Purge(ctx, opts.EndedBefore)
	if err != nil {
		return err
	}
	if err := purgeStrayMessages(ctx, svc.Store, opts); err != nil {
		return err
	}
	res.Purged = n
	if opts.Output == outputJSON {
		return opts.IO.writeJSON(res)
	}
	opts.IO.Statusf("Purged %d conversation(s).", n)
	return nil
}
