package cli

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/spf13/cobra"
)

// Usage mistakes in the user's words: cobra and pflag report them in
// theirs ("accepts 2 arg(s), received 1", "strconv.ParseInt: parsing
// \"abc\": invalid syntax").

var (
	needsArg       = regexp.MustCompile(`^flag needs an argument: (?:'(\w)' in -\w|--([\w-]+))$`)
	invalidFlagArg = regexp.MustCompile(`^invalid argument "((?:[^"\\]|\\.)*)" for "(?:-[^,]+, )?--([\w-]+)" flag: (.*)$`)
	cobraArgCount  = regexp.MustCompile(`^(accepts|requires at least|accepts at most|accepts between) (\d+)(?: and (\d+))? arg\(s\), (?:only )?received (\d+)$`)
)

// flagMessage rewrites pflag's errors about flag values.
func flagMessage(cmd *cobra.Command, err error) string {
	if m := needsArg.FindStringSubmatch(err.Error()); m != nil {
		name := "--" + m[2]
		if m[1] != "" {
			name = "-" + m[1]
			if f := cmd.Flags().ShorthandLookup(m[1]); f != nil {
				name = "-" + m[1] + "/--" + f.Name
			}
		}
		return name + " needs a value"
	}
	m := invalidFlagArg.FindStringSubmatch(err.Error())
	if m == nil {
		return err.Error()
	}
	value, name, cause := m[1], m[2], m[3]
	typ := ""
	if f := cmd.Flags().Lookup(name); f != nil {
		typ = f.Value.Type()
	}
	switch typ {
	case "int", "int64", "uint", "uint64":
		return fmt.Sprintf("--%s takes a whole number, not %q", name, value)
	case "bool":
		return fmt.Sprintf("--%s takes true or false, not %q", name, value)
	case "duration":
		return fmt.Sprintf("--%s takes a duration such as 90m, 2h or 7d, not %q", name, value)
	}
	// Our own flag types (durationValue) say what is wrong themselves.
	return fmt.Sprintf("--%s %q: %s", name, value, strings.TrimRight(cause, "."))
}

// argsMessage rewrites cobra's argument-count errors: what the command
// takes, from its usage line, and what it got.
func argsMessage(cmd *cobra.Command, got int, err error) string {
	m := cobraArgCount.FindStringSubmatch(err.Error())
	if m == nil {
		return err.Error()
	}
	var want string
	switch m[1] {
	case "accepts":
		want = countOf(m[2])
	case "requires at least":
		want = "at least " + countOf(m[2])
	case "accepts at most":
		want = "at most " + countOf(m[2])
	case "accepts between":
		want = "between " + m[2] + " and " + m[3] + " arguments"
	}
	msg := fmt.Sprintf("%s takes %s", strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" "), want)
	if use := strings.TrimSpace(strings.TrimPrefix(cmd.Use, cmd.Name())); use != "" {
		msg += " (" + use + ")"
	}
	return msg + fmt.Sprintf(", got %d", got)
}

func countOf(n string) string {
	switch n {
	case "0":
		return "no arguments"
	case "1":
		return "1 argument"
	}
	return n + " arguments"
}

// newCmdHelp replaces cobra's help command, which answers an unknown topic
// with usage and exit 0: a typo in a script should fail.
func newCmdHelp(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:     "help [command]",
		Short:   "Help about any command",
		Example: "  maskcall help conversation create",
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			target, _, err := c.Root().Find(args)
			if err != nil || target == nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []string
			for _, sub := range target.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					names = append(names, sub.Name())
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			target, rest, err := root.Find(args)
			if err != nil || target == nil || len(rest) > 0 {
				topic := strings.Join(args, " ")
				return &flagError{maskcall.Errorf(maskcall.EINVALID,
					"No help topic %q; run `maskcall help` for the list of commands.", topic)}
			}
			target.InitDefaultHelpFlag()
			return target.Help()
		},
	}
}
