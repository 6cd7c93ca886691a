package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/phone"
	"github.com/spf13/cobra"
)

// NewCmdNumbers groups the number pool commands.
func NewCmdNumbers(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "numbers <command>",
		Short: "Manage the pool of virtual numbers",
		Long: `Manage the pool of Vonage virtual numbers that conversations hand out as proxy numbers.
Every number maskcall buys is recorded before the purchase is sent, so a paid number is never forgotten.`,
		Example: `  maskcall numbers provision --country GB --count 2
  maskcall numbers list -o json`,
	}
	cmd.AddCommand(
		NewCmdNumbersSearch(f, nil),
		NewCmdNumbersRent(f, nil),
		NewCmdNumbersConfigure(f, nil),
		NewCmdNumbersProvision(f, nil),
		NewCmdNumbersImport(f, nil),
		NewCmdNumbersList(f, nil),
		NewCmdNumbersRelease(f, nil),
		NewCmdNumbersReconcile(f, nil),
	)
	return cmd
}

// NumbersSearchOptions are the inputs of `numbers search`.
type NumbersSearchOptions struct {
	IO   *IOStreams
	Pool func() (*maskcall.NumberPool, error)

	Query  maskcall.NumberSearch
	Output string
}

// NewCmdNumbersSearch builds `numbers search`.
func NewCmdNumbersSearch(f *Factory, runF func(context.Context, *NumbersSearchOptions) error) *cobra.Command {
	opts := &NumbersSearchOptions{IO: f.IO, Pool: f.NumberPool}
	var features, pattern string
	cmd := &cobra.Command{
		Use:   "search --country CC",
		Short: "List numbers available to rent (nothing is bought)",
		Example: `  maskcall numbers search --country GB
  maskcall numbers search --country US --features VOICE,SMS --pattern 555 --limit 5 -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			var err error
			if opts.Query.Country, err = parseCountry(opts.Query.Country); err != nil {
				return err
			}
			if opts.Query.Features, err = maskcall.ParseFeatures(features); err != nil {
				return &flagError{err}
			}
			if err := checkType(opts.Query.Type); err != nil {
				return err
			}
			if opts.Query.Limit < 1 || opts.Query.Limit > 100 {
				return flagErrorf("--limit must be between 1 and 100, got %d", opts.Query.Limit)
			}
			opts.Query.Pattern, opts.Query.PatternPosition = parsePattern(pattern)
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return numbersSearchRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Query.Country, "country", "", "country code, e.g. GB or US (required)")
	cmd.Flags().StringVar(&features, "features", "", "features every number must have, e.g. VOICE,SMS")
	cmd.Flags().StringVar(&pattern, "pattern", "", "digits the number contains; 447700* for starts with, *123 for ends with")
	cmd.Flags().StringVar(&opts.Query.Type, "type", "", "landline, mobile-lvn or toll-free")
	cmd.Flags().IntVar(&opts.Query.Limit, "limit", 10, "how many to show (1-100)")
	outputFlag(cmd, &opts.Output)
	_ = cmd.MarkFlagRequired("country")
	return cmd
}

func numbersSearchRun(ctx context.Context, opts *NumbersSearchOptions) error {
	pool, err := opts.Pool()
	if err != nil {
		return err
	}
	found, err := pool.Search(ctx, opts.Query)
	if err != nil {
		return err
	}
	if opts.Output == outputJSON {
		if found == nil {
			found = []maskcall.AvailableNumber{}
		}
		return opts.IO.writeJSON(found)
	}
	if len(found) == 0 {
		opts.IO.Statusf("No numbers in %s match; try other --features, --type or --pattern.", opts.Query.Country)
		return nil
	}
	t := newTable(opts.IO, "NUMBER", "COUNTRY", "TYPE", "FEATURES", "COST/MONTH")
	for _, a := range found {
		t.add(a.Number, a.Country, a.Type, strings.Join(a.Features, ","), a.Cost)
	}
	return t.print()
}

// NumbersRentOptions are the inputs of `numbers rent`.
type NumbersRentOptions struct {
	IO   *IOStreams
	Pool func() (*maskcall.NumberPool, error)

	Country     string
	Numbers     []string
	NoConfigure bool
	Output      string
}

// NewCmdNumbersRent builds `numbers rent`.
func NewCmdNumbersRent(f *Factory, runF func(context.Context, *NumbersRentOptions) error) *cobra.Command {
	opts := &NumbersRentOptions{IO: f.IO, Pool: f.NumberPool}
	cmd := &cobra.Command{
		Use:   "rent --country CC NUMBER...",
		Short: "Buy numbers and link them to the voice application",
		Long: `Buy each number and, unless --no-configure, link it to vonage.application_id as configure does.
Numbers come from "maskcall numbers search". Rent stops at the first failure; what was bought stays in the pool.`,
		Example: `  maskcall numbers rent --country GB 447700900001 447700900002
  maskcall numbers rent --country US "+1 202 555 0100" --no-configure`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			var err error
			if opts.Country, err = parseCountry(opts.Country); err != nil {
				return err
			}
			if opts.Numbers, err = parseNumbers(args, opts.Country); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return numbersRentRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Country, "country", "", "country code of the numbers, e.g. GB (required)")
	cmd.Flags().BoolVar(&opts.NoConfigure, "no-configure", false, "buy only; link later with `numbers configure`")
	outputFlag(cmd, &opts.Output)
	_ = cmd.MarkFlagRequired("country")
	return cmd
}

func numbersRentRun(ctx context.Context, opts *NumbersRentOptions) error {
	pool, err := opts.Pool()
	if err != nil {
		return err
	}
	got, err := pool.RentNumbers(ctx, opts.Country, opts.Numbers, maskcall.RentOptions{
		Configure: !opts.NoConfigure, Progress: progressPrinter(opts.IO, len(opts.Numbers)),
	})
	if perr := printNumbers(opts.IO, opts.Output, got); perr != nil {
		return perr
	}
	return err
}

// NumbersProvisionOptions are the inputs of `numbers provision`.
type NumbersProvisionOptions struct {
	IO   *IOStreams
	Pool func() (*maskcall.NumberPool, error)

	Query       maskcall.NumberSearch
	Count       int
	NoConfigure bool
	Output      string
}

// NewCmdNumbersProvision builds `numbers provision`.
func NewCmdNumbersProvision(f *Factory, runF func(context.Context, *NumbersProvisionOptions) error) *cobra.Command {
	opts := &NumbersProvisionOptions{IO: f.IO, Pool: f.NumberPool}
	var features string
	cmd := &cobra.Command{
		Use:   "provision --country CC --count N",
		Short: "Search, rent and link N numbers in one go",
		Long: `Search for N numbers, rent each and link it to the voice application, showing progress.
This is the command to run first. If it stops part-way (a Vonage error, Ctrl-C), the pool records
exactly what was bought; run "maskcall numbers configure" to finish linking.`,
		Example: `  maskcall numbers provision --country GB --count 2
  maskcall numbers provision --country US --count 10 --features VOICE,SMS --type landline`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			var err error
			if opts.Query.Country, err = parseCountry(opts.Query.Country); err != nil {
				return err
			}
			if opts.Query.Features, err = maskcall.ParseFeatures(features); err != nil {
				return &flagError{err}
			}
			if err := checkType(opts.Query.Type); err != nil {
				return err
			}
			if opts.Count < 1 || opts.Count > 100 {
				return flagErrorf("--count must be between 1 and 100, got %d", opts.Count)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return numbersProvisionRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Query.Country, "country", "", "country code, e.g. GB (required)")
	cmd.Flags().IntVar(&opts.Count, "count", 0, "how many numbers to rent, 1-100 (required)")
	cmd.Flags().StringVar(&features, "features", "VOICE,SMS", "features every number must have")
	cmd.Flags().StringVar(&opts.Query.Type, "type", "", "landline, mobile-lvn or toll-free")
	cmd.Flags().BoolVar(&opts.NoConfigure, "no-configure", false, "buy only; link later with `numbers configure`")
	outputFlag(cmd, &opts.Output)
	_ = cmd.MarkFlagRequired("country")
	_ = cmd.MarkFlagRequired("count")
	return cmd
}

func numbersProvisionRun(ctx context.Context, opts *NumbersProvisionOptions) error {
	pool, err := opts.Pool()
	if err != nil {
		return err
	}
	opts.IO.Statusf("Provisioning %d number(s) in %s...", opts.Count, opts.Query.Country)
	got, err := pool.Provision(ctx, opts.Query, opts.Count, maskcall.RentOptions{
		Configure: !opts.NoConfigure, Progress: progressPrinter(opts.IO, opts.Count),
	})
	if perr := printNumbers(opts.IO, opts.Output, got); perr != nil {
		return perr
	}
	return err
}

// progressPrinter reports each rent step on ErrOut.
func progressPrinter(io *IOStreams, total int) func(maskcall.RentStep) {
	done := map[string]int{}
	return func(s maskcall.RentStep) {
		i, ok := done[s.Number]
		if !ok {
			i = len(done) + 1
			done[s.Number] = i
		}
		switch s.Stage {
		case "failed":
			io.Statusf("[%d/%d] %s failed", i, total, s.Number)
		default:
			io.Statusf("[%d/%d] %s %s", i, total, s.Number, s.Stage)
		}
	}
}

// NumbersConfigureOptions are the inputs of `numbers configure`.
type NumbersConfigureOptions struct {
	IO   *IOStreams
	Pool func() (*maskcall.NumberPool, error)

	Numbers []string
	All     bool
	Output  string
}

// NewCmdNumbersConfigure builds `numbers configure`.
func NewCmdNumbersConfigure(f *Factory, runF func(context.Context, *NumbersConfigureOptions) error) *cobra.Command {
	opts := &NumbersConfigureOptions{IO: f.IO, Pool: f.NumberPool}
	cmd := &cobra.Command{
		Use:   "configure [NUMBER...|--all]",
		Short: "Link numbers' voice and SMS handling to the voice application",
		Long: `Point numbers at vonage.application_id so Vonage sends their calls to maskcall serve.
With no numbers, configures every number that is not yet active, and settles purchases
that were interrupted (checking the account's owned numbers). --all relinks every number.`,
		Example: `  maskcall numbers configure
  maskcall numbers configure 447700900001
  maskcall numbers configure --all`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			if opts.All && len(args) > 0 {
				return flagErrorf("give numbers or --all, not both")
			}
			var err error
			if opts.Numbers, err = parseNumbers(args, ""); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return numbersConfigureRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "relink every number in the pool")
	outputFlag(cmd, &opts.Output)
	return cmd
}

func numbersConfigureRun(ctx context.Context, opts *NumbersConfigureOptions) error {
	pool, err := opts.Pool()
	if err != nil {
		return err
	}
	results, err := pool.Configure(ctx, opts.Numbers, opts.All)
	if opts.Output == outputJSON {
		type row struct {
			Number string `json:"number"`
			Status string `json:"status"`
			Action string `json:"action"`
			Error  string `json:"error,omitempty"`
		}
		rows := []row{}
		for _, r := range results {
			rw := row{Number: r.Number.Number, Status: string(r.Number.Status), Action: r.Action}
			if r.Err != nil {
				rw.Error = advice(r.Err)
			}
			rows = append(rows, rw)
		}
		if jerr := opts.IO.writeJSON(rows); jerr != nil {
			return jerr
		}
	} else {
		if len(results) == 0 && err == nil {
			opts.IO.Statusf("Every number is already configured; use --all to relink them.")
		}
		t := newTable(opts.IO, "NUMBER", "STATUS", "ACTION")
		for _, r := range results {
			t.add(r.Number.Number, string(r.Number.Status), r.Action)
		}
		if perr := t.print(); perr != nil {
			return perr
		}
	}
	return err
}

// NumbersImportOptions are the inputs of `numbers import`.
type NumbersImportOptions struct {
	IO   *IOStreams
	Pool func() (*maskcall.NumberPool, error)

	Country string
	Output  string
}

// NewCmdNumbersImport builds `numbers import`.
func NewCmdNumbersImport(f *Factory, runF func(context.Context, *NumbersImportOptions) error) *cobra.Command {
	opts := &NumbersImportOptions{IO: f.IO, Pool: f.NumberPool}
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Adopt numbers the account already owns into the pool",
		Long: `Add every number the Vonage account rents to the pool. Numbers linked to vonage.application_id
become active; others are unconfigured until "maskcall numbers configure" links them.`,
		Example: `  maskcall numbers import
  maskcall numbers import --country GB -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			if opts.Country != "" {
				var err error
				if opts.Country, err = parseCountry(opts.Country); err != nil {
					return err
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return numbersImportRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Country, "country", "", "only numbers of this country")
	outputFlag(cmd, &opts.Output)
	return cmd
}

func numbersImportRun(ctx context.Context, opts *NumbersImportOptions) error {
	pool, err := opts.Pool()
	if err != nil {
		return err
	}
	added, err := pool.Import(ctx, maskcall.OwnedNumbersFilter{Country: opts.Country})
	if perr := printNumbers(opts.IO, opts.Output, added); perr != nil {
		return perr
	}
	if err == nil && opts.Output != outputJSON {
		opts.IO.Statusf("Imported %d number(s).", len(added))
	}
	return err
}

// NumbersListOptions are the inputs of `numbers list`.
type NumbersListOptions struct {
	IO    *IOStreams
	Store func() (maskcall.NumberStore, error)
	Now   func() time.Time

	Status string
	Output string
}

// NewCmdNumbersList builds `numbers list`.
func NewCmdNumbersList(f *Factory, runF func(context.Context, *NumbersListOptions) error) *cobra.Command {
	opts := &NumbersListOptions{IO: f.IO, Now: f.Now, Store: func() (maskcall.NumberStore, error) { return f.DB() }}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Show the pool: each number, its state and how many conversations use it",
		Example: `  maskcall numbers list
  maskcall numbers list --status unconfigured
  maskcall numbers list -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			if opts.Status != "" && opts.Status != "all" && !maskcall.NumberStatus(opts.Status).Valid() {
				return flagErrorf("--status must be purchasing, unconfigured, active, released or all, not %q", opts.Status)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return numbersListRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Status, "status", "", "only numbers in this state (purchasing, unconfigured, active, released, all); default all but released")
	outputFlag(cmd, &opts.Output)
	return cmd
}

func numbersListRun(ctx context.Context, opts *NumbersListOptions) error {
	store, err := opts.Store()
	if err != nil {
		return err
	}
	var filter maskcall.NumberFilter
	switch opts.Status {
	case "":
	case "all":
		filter.IncludeReleased = true
	default:
		st := maskcall.NumberStatus(opts.Status)
		filter.Status = &st
	}
	nums, err := store.FindNumbers(ctx, filter, opts.Now())
	if err != nil {
		return err
	}
	if len(nums) == 0 && opts.Output != outputJSON {
		opts.IO.Statusf("The pool is empty; rent numbers with `maskcall numbers provision --country GB --count 2`.")
		return nil
	}
	return printNumbers(opts.IO, opts.Output, nums)
}

func printNumbers(io *IOStreams, output string, nums []*maskcall.Number) error {
	if output == outputJSON {
		if nums == nil {
			nums = []*maskcall.Number{}
		}
		return io.writeJSON(nums)
	}
	if len(nums) == 0 {
		return nil
	}
	t := newTable(io, "NUMBER", "COUNTRY", "FEATURES", "STATUS", "CONVERSATIONS", "COST/MONTH")
	for _, n := range nums {
		cost := n.Cost
		if cost == "" {
			cost = "-"
		}
		t.add(n.Number, n.Country, strings.Join(n.Features, ","), string(n.Status), strconv.Itoa(n.ActiveConversations), cost)
	}
	return t.print()
}

// NumbersReleaseOptions are the inputs of `numbers release`.
type NumbersReleaseOptions struct {
	IO   *IOStreams
	Pool func() (*maskcall.NumberPool, error)

	Number string
	Force  bool
	Yes    bool
	DryRun bool
}

// NewCmdNumbersRelease builds `numbers release`.
func NewCmdNumbersRelease(f *Factory, runF func(context.Context, *NumbersReleaseOptions) error) *cobra.Command {
	opts := &NumbersReleaseOptions{IO: f.IO, Pool: f.NumberPool}
	cmd := &cobra.Command{
		Use:   "release NUMBER",
		Short: "Cancel a number's rental",
		Long: `Cancel the rental of a pool number. Refuses while active conversations use it, unless --force,
which ends those conversations. --force asks first on a terminal; elsewhere it needs --yes.
--dry-run says what would happen and changes nothing.`,
		Example: `  maskcall numbers release 447700900001
  maskcall numbers release +447700900001 --force --dry-run
  maskcall numbers release +447700900001 --force --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := parseNumbers(args, "")
			if err != nil {
				return err
			}
			opts.Number = n[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return numbersReleaseRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Force, "force", false, "end the conversations using the number and release it")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask before --force ends conversations")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "say what would happen, change nothing")
	return cmd
}

func numbersReleaseRun(ctx context.Context, opts *NumbersReleaseOptions) error {
	pool, err := opts.Pool()
	if err != nil {
		return err
	}
	if opts.Force && !opts.Yes && !opts.DryRun {
		if err := canConfirm(opts.IO, "release "+opts.Number+" and end the conversations using it"); err != nil {
			return err
		}
	}
	if opts.DryRun || (opts.Force && !opts.Yes) {
		n, err := pool.CheckRelease(ctx, opts.Number, opts.Force)
		if err != nil {
			return err
		}
		what := fmt.Sprintf("release %s", opts.Number)
		if n.Status == maskcall.NumberReleased {
			what = fmt.Sprintf("leave %s alone: it is already released", opts.Number)
		} else if opts.Force && n.ActiveConversations > 0 {
			// The count may grow before the release; Release ends whatever
			// uses the number then.
			what += fmt.Sprintf(" and end the %d active conversation(s) using it", n.ActiveConversations)
		} else if opts.Force {
			what += " (no active conversation uses it)"
		}
		if opts.DryRun {
			opts.IO.Statusf("Would %s; nothing was changed (--dry-run).", what)
			return nil
		}
		if err := confirmDestructive(opts.IO, strings.ToUpper(what[:1])+what[1:], "Nothing was released."); err != nil {
			return err
		}
	}
	_, ended, err := pool.Release(ctx, opts.Number, opts.Force)
	if err != nil {
		return err
	}
	for _, id := range ended {
		opts.IO.Statusf("Ended conversation %s.", id)
	}
	opts.IO.Statusf("Released %s.", opts.Number)
	return nil
}

// parseCountry checks a country code is two letters that libphonenumber
// knows.
func parseCountry(cc string) (string, error) {
	cc = strings.ToUpper(strings.TrimSpace(cc))
	if !phone.KnownCountry(cc) {
		return "", flagErrorf("unknown country code %q; use a two-letter ISO code such as GB or US", cc)
	}
	return cc, nil
}

// parseNumbers normalises phone numbers given on the command line.
func parseNumbers(args []string, country string) ([]string, error) {
	out := make([]string, 0, len(args))
	for _, a := range args {
		n, err := phone.Parse(a, country)
		if err != nil {
			return nil, &flagError{err}
		}
		out = append(out, n.E164)
	}
	return out, nil
}

func checkType(t string) error {
	switch t {
	case "", "landline", "mobile-lvn", "toll-free":
		return nil
	}
	return flagErrorf("--type must be landline, mobile-lvn or toll-free, not %q", t)
}

// parsePattern turns "447700*" into (447700, starts), "*123" into (123, ends)
// and "555" into (555, contains).
func parsePattern(p string) (string, string) {
	switch {
	case p == "":
		return "", ""
	case strings.HasSuffix(p, "*") && !strings.HasPrefix(p, "*"):
		return strings.TrimSuffix(strings.TrimPrefix(p, "+"), "*"), "starts"
	case strings.HasPrefix(p, "*") && !strings.HasSuffix(p, "*"):
		return strings.TrimPrefix(p, "*"), "ends"
	}
	return strings.Trim(p, "*+"), "contains"
}

// NumbersReconcileOptions are the inputs of `numbers reconcile`.
type NumbersReconcileOptions struct {
	IO   *IOStreams
	Pool func() (*maskcall.NumberPool, error)

	DryRun bool
	Output string
}

// NewCmdNumbersReconcile builds `numbers reconcile`.
func NewCmdNumbersReconcile(f *Factory, runF func(context.Context, *NumbersReconcileOptions) error) *cobra.Command {
	opts := &NumbersReconcileOptions{IO: f.IO, Pool: f.NumberPool}
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Compare the pool with what the account owns, repair what is safe, report the rest",
		Long: `Compare the pool with the numbers the Vonage account really owns and how each is linked.
It adopts owned numbers missing from the pool (bought behind maskcall's back), settles purchases
that were interrupted, and relinks numbers not pointing at vonage.application_id. Pool numbers the
account no longer owns are only reported. One run settles everything it can (what it adopts or
confirms is linked at once); a purchase another maskcall is still making is reported as in flight
and left alone. Safe to run from cron; --dry-run changes nothing.`,
		Example: `  maskcall numbers reconcile --dry-run
  maskcall numbers reconcile -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return numbersReconcileRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "report what would be done, change nothing")
	outputFlag(cmd, &opts.Output)
	return cmd
}

func numbersReconcileRun(ctx context.Context, opts *NumbersReconcileOptions) error {
	pool, err := opts.Pool()
	if err != nil {
		return err
	}
	actions, err := pool.Reconcile(ctx, opts.DryRun)
	if err != nil {
		return err
	}
	var failed int
	for _, a := range actions {
		if a.Error != "" {
			failed++
		}
	}
	if opts.Output == outputJSON {
		if actions == nil {
			actions = []maskcall.ReconcileAction{}
		}
		if err := opts.IO.writeJSON(actions); err != nil {
			return err
		}
	} else if len(actions) == 0 {
		opts.IO.Statusf("The pool matches the account.")
	} else {
		t := newTable(opts.IO, "NUMBER", "FINDING", "ACTION")
		for _, a := range actions {
			action := a.Action
			if adv, ok := reconcileAdvice[a.Reason]; ok {
				action = adv
			}
			if opts.DryRun && !strings.HasPrefix(action, "none") {
				action = "would be " + action
			}
			if a.Error != "" {
				action += " (failed: " + a.Error + ")"
			}
			t.add(a.Number, a.Finding, action)
		}
		if err := t.print(); err != nil {
			return err
		}
	}
	if failed > 0 {
		return maskcall.Errorf(maskcall.EUPSTREAM, "%d repair(s) failed.", failed).WithHint("Run `maskcall numbers reconcile` again.")
	}
	return nil
}
