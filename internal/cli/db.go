package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/maskcall/maskcall/internal/dbcopy"
	"github.com/spf13/cobra"
)

// NewCmdDB builds `db`, the commands that act on the state database as a
// whole.
func NewCmdDB(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "db",
		Short:   "Move the state database between SQLite and PostgreSQL",
		Example: `  maskcall db copy --from ./maskcall.db --to 'postgres://maskcall@db.internal/maskcall'`,
		Args:    noArgs,
	}
	cmd.AddCommand(NewCmdDBCopy(f, nil))
	return cmd
}

// DBCopyOptions are the inputs of `db copy`.
type DBCopyOptions struct {
	IO       *IOStreams
	From, To string
	Output   string
}

// NewCmdDBCopy builds `db copy`.
func NewCmdDBCopy(f *Factory, runF func(context.Context, *DBCopyOptions) error) *cobra.Command {
	opts := &DBCopyOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "copy --from PATH_OR_URL --to PATH_OR_URL",
		Short: "Copy a whole deployment's state to another database",
		Long: `Copy everything maskcall keeps (the pool, conversations, sticky pairings, calls and their events)
from one database to another: a SQLite file or a postgres:// URL on either side. The target is
created or migrated as needed and must be empty; the copy is one transaction on the target, so it
is all there or not at all, and every table's row count is checked against the source before it
commits. Stop serve and the CLI's cron jobs on the source first: writes made during the copy are
not carried over.`,
		Example: `  # Outgrow one machine: move an existing SQLite deployment to PostgreSQL
  maskcall db copy --from /var/lib/maskcall/maskcall.db --to 'postgres://maskcall@db.internal/maskcall'

  # And back
  maskcall db copy --from 'postgres://maskcall@db.internal/maskcall' --to ./maskcall.db -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			if opts.From == "" || opts.To == "" {
				return flagErrorf("db copy needs both --from and --to")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return dbCopyRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.From, "from", "", "source: a SQLite file path or a postgres:// URL (required)")
	cmd.Flags().StringVar(&opts.To, "to", "", "target, empty: a SQLite file path or a postgres:// URL (required)")
	outputFlag(cmd, &opts.Output)
	return cmd
}

func dbCopyRun(ctx context.Context, opts *DBCopyOptions) error {
	sum, err := dbcopy.Copy(ctx, opts.From, opts.To, func(table string, rows int) {
		opts.IO.Statusf("Copied %s: %d rows.", table, rows)
	})
	if err != nil {
		return err
	}
	if opts.Output == outputJSON {
		return opts.IO.writeJSON(sum)
	}
	w := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TABLE\tROWS")
	for _, t := range sum.Tables {
		fmt.Fprintf(w, "%s\t%d\n", t.Name, t.Rows)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	opts.IO.Statusf("Copied %d rows from %s to %s; every table's count matches.", sum.Rows, sum.From, sum.To)
	return nil
}
