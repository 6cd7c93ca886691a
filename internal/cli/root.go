// Package cli is maskcall's command-line interface: cobra commands that
// parse flags into options structs and call run functions, which use the
// domain through the Factory.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/maskcall/maskcall/internal/build"
	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/spf13/cobra"
)

// Exit statuses.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitConfig   = 3
	exitAuth     = 4
	exitCanceled = 130
)

// exitCodes maps error codes to exit statuses; anything else exits 1.
var exitCodes = map[string]int{
	maskcall.EINVALID:       exitUsage,
	maskcall.ECONFIG:        exitConfig,
	maskcall.EVONAGEAUTH:    exitAuth,
	maskcall.EINVALIDNUMBER: exitUsage,
	maskcall.ECANCELED:      exitCanceled,
}

// Main runs maskcall with the process's arguments and returns its exit status.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := NewFactory(System())
	return Run(ctx, f, os.Args[1:])
}

// Run executes one command line against f and returns the exit status.
func Run(ctx context.Context, f *Factory, args []string) int {
	defer f.Close()
	cmd := NewCmdRoot(f)
	cmd.SetArgs(args)
	cmd.SetOut(f.IO.Out)
	cmd.SetErr(f.IO.ErrOut)
	failed, err := cmd.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if ctx.Err() != nil {
		// Ctrl-C or SIGTERM: whatever failed, it failed because we were
		// stopped. Commands record what they did before returning.
		fmt.Fprintln(f.IO.ErrOut, "maskcall: Interrupted.")
		return exitCanceled
	}
	return printError(f.IO, hintContext{failed}, err)
}

// flagError marks errors in the command line itself; usage is shown for them.
type flagError struct{ error }

func (e *flagError) Unwrap() error { return e.error }

func flagErrorf(format string, args ...any) error {
	return &flagError{sentence(maskcall.Errorf(maskcall.EINVALID, format, args...))}
}

// sentence ends e's message with a full stop.
func sentence(e *maskcall.Error) *maskcall.Error {
	if m := e.Message; m != "" && !strings.HasSuffix(m, ".") && !strings.HasSuffix(m, "?") {
		e.Message = m + "."
	}
	return e
}

// printError prints err with the advice for it (hints.go) and returns the
// exit status for its code.
func printError(io *IOStreams, h hintContext, err error) int {
	var fe *flagError
	if errors.As(err, &fe) {
		fmt.Fprintf(io.ErrOut, "maskcall: %s\n", userMessage(h, fe.error))
		fmt.Fprintln(io.ErrOut, "Run with --help for usage.")
		return exitUsage
	}
	code := maskcall.ErrorCode(err)
	if code == maskcall.EINTERNAL {
		var e *maskcall.Error
		if errors.As(err, &e) {
			fmt.Fprintf(io.ErrOut, "maskcall: %s\n", userMessage(h, err))
		} else {
			// Not one of ours, so a bug: say what happened, as we know
			// nothing better, and what to do about it.
			fmt.Fprintf(io.ErrOut, "maskcall: Unexpected failure (%v); please report it with the command that failed.\n", strings.TrimRight(err.Error(), "."))
		}
		return exitError
	}
	fmt.Fprintf(io.ErrOut, "maskcall: %s\n", userMessage(h, err))
	if maskcall.ErrorReason(err) == "declined" {
		return exitError // the person said no: not an interruption
	}
	if c, ok := exitCodes[code]; ok {
		return c
	}
	return exitError
}

// NewCmdRoot builds the command tree.
func NewCmdRoot(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "maskcall <command>",
		Short: "Masked calling on Vonage: two people call each other through rented virtual numbers.",
		Long: `maskcall connects two people through rented Vonage virtual numbers, so neither learns the other's real number.
It manages the number pool, pairs numbers into conversations, and answers Vonage's call webhooks.`,
		Example: `  # try it with no account: a local Vonage sandbox, a server, two calls
  maskcall demo

  # rent two UK numbers, pair a driver and a rider, answer calls
  maskcall numbers provision --country GB --count 2
  maskcall conversation create +447700900123 +447700900456 --label-a driver --label-b rider --ttl 2h
  maskcall serve --public-url https://example.ngrok.app`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       build.Version,
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &flagError{sentence(maskcall.Errorf(maskcall.EINVALID, "%s", flagMessage(c, err)))}
	})
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.ConfigFile, "config", "", "config file (default ./maskcall.yaml if present, else "+displayConfigDir()+")")
	pf.String("db", "", "state: a SQLite file or a postgres:// URL, shared by the CLI and serve (default "+defaultDBPath()+")")
	f.Flags = pf

	cmd.AddCommand(
		NewCmdNumbers(f),
		NewCmdConversation(f),
		NewCmdServe(f, nil),
		NewCmdSandbox(f),
		NewCmdDemo(f, nil),
		NewCmdConfig(f),
		NewCmdAPIKey(f),
		NewCmdCallbacks(f),
		NewCmdDB(f),
		NewCmdVersion(f),
	)
	// Before the completion command exists: cobra's completion commands
	// keep the writer they find when they are made.
	cmd.SetOut(f.IO.Out)
	cmd.SetErr(f.IO.ErrOut)
	addGeneratedExamples(cmd)
	markUsageErrors(cmd)
	f.bindCommands(cmd)
	return cmd
}

// markUsageErrors makes every mistake in a command line a flagError (exit 2,
// usage hint): wrong argument counts, missing required flags, and unknown
// subcommands, which cobra would otherwise answer with help and exit 0.
func markUsageErrors(root *cobra.Command) {
	usage := func(err error) error {
		if err == nil {
			return nil
		}
		return &flagError{sentence(maskcall.Errorf(maskcall.EINVALID, "%s", err.Error()))}
	}
	// Runs before cobra's own check of required flags, which returns a plain error.
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		return usage(cmd.ValidateRequiredFlags())
	}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.SuggestionsMinimumDistance = 2
		if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
			c.Args = cobra.ArbitraryArgs
			c.RunE = func(cmd *cobra.Command, args []string) error {
				if len(args) == 0 {
					return cmd.Help()
				}
				msg := fmt.Sprintf("unknown command %q for %q.", args[0], cmd.CommandPath())
				if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
					msg = strings.TrimSuffix(msg, ".") + "; did you mean " + strings.Join(s, " or ") + "?"
				}
				return &flagError{maskcall.Errorf(maskcall.EINVALID, "%s", msg)}
			}
		} else if validate := c.Args; validate != nil {
			c.Args = func(cmd *cobra.Command, args []string) error {
				if err := validate(cmd, args); err != nil {
					return usage(errors.New(argsMessage(cmd, len(args), err)))
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// addGeneratedExamples gives cobra's generated help and completion commands
// the examples every maskcall command has.
func addGeneratedExamples(root *cobra.Command) {
	root.SetHelpCommand(newCmdHelp(root))
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "help" {
			c.Example = "  maskcall help conversation create"
		}
		if c.Name() != "completion" {
			continue
		}
		c.Example = "  maskcall completion bash > /etc/bash_completion.d/maskcall\n  maskcall completion zsh > \"${fpath[1]}/_maskcall\""
		for _, sub := range c.Commands() {
			sub.Example = "  maskcall completion " + sub.Name() + " > maskcall." + sub.Name()
		}
	}
}

func displayConfigDir() string {
	if dir, err := os.UserConfigDir(); err == nil {
		return dir + "/maskcall/config.yaml"
	}
	return "the user config dir's maskcall/config.yaml"
}

// NewCmdVersion prints the version.
func NewCmdVersion(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print maskcall's version",
		Example: "  maskcall version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(f.IO.Out, "maskcall %s\n", build.Version)
			return nil
		},
	}
}

// outputFlag adds -o/--output to cmd.
func outputFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "output", "o", outputTable, "output format: table or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{outputTable, outputJSON}, cobra.ShellCompDirectiveNoFileComp))
}

func checkOutput(o string) error {
	if o != outputTable && o != outputJSON {
		return flagErrorf("--output must be table or json, not %q", o)
	}
	return nil
}

// noArgs is cobra.NoArgs with a message that says what was extra.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args[0])
	}
	return nil
}

// withHint replaces the hint of a maskcall error.
func withHint(err error, hint string) error {
	var e *maskcall.Error
	if errors.As(err, &e) {
		return e.WithHint(hint)
	}
	return err
}
