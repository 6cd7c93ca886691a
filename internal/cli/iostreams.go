package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// IOStreams carries a command's input and output: data to Out, status and
// errors to ErrOut, so `-o json` output stays clean for scripts.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// OutTTY says Out is a terminal: tables get headers and relative times.
	OutTTY bool
	// InTTY and ErrTTY say In and ErrOut are terminals: a person can be
	// asked to confirm (CanPrompt).
	InTTY, ErrTTY bool
}

// CanPrompt reports whether a person can answer a question: questions go to
// ErrOut and answers come from In, so stdout may be piped (-o json).
func (io *IOStreams) CanPrompt() bool { return io.InTTY && io.ErrTTY }

// confirm asks question on ErrOut and reads a yes or no from In; anything
// but y or yes, including end of input, is no.
func (io *IOStreams) confirm(question string) bool {
	fmt.Fprintf(io.ErrOut, "%s [y/N] ", question)
	line, _ := bufio.NewReader(io.In).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

// System returns the process's standard streams.
func System() *IOStreams {
	return &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, OutTTY: isTerminal(os.Stdout),
		InTTY: isTerminal(os.Stdin), ErrTTY: isTerminal(os.Stderr)}
}

// TestIO returns streams backed by buffers.
func TestIO() (*IOStreams, *bytes.Buffer, *bytes.Buffer) {
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut}, out, errOut
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Statusf prints a status line to ErrOut.
func (io *IOStreams) Statusf(format string, args ...any) {
	fmt.Fprintf(io.ErrOut, format+"\n", args...)
}

// Output formats.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// writeJSON prints v as indented JSON to Out.
func (io *IOStreams) writeJSON(v any) error {
	enc := json.NewEncoder(io.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints rows as aligned columns on a terminal and tab-separated
// otherwise, with a header only on a terminal.
type table struct {
	io     *IOStreams
	header []string
	rows   [][]string
}

func newTable(io *IOStreams, header ...string) *table { return &table{io: io, header: header} }

func (t *table) add(cols ...string) { t.rows = append(t.rows, cols) }

func (t *table) print() error {
	if !t.io.OutTTY {
		for _, r := range t.rows {
			if _, err := fmt.Fprintln(t.io.Out, strings.Join(r, "\t")); err != nil {
				return err
			}
		}
		return nil
	}
	w := tabwriter.NewWriter(t.io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, strings.Join(t.header, "\t"))
	for _, r := range t.rows {
		fmt.Fprintln(w, strings.Join(r, "\t"))
	}
	return w.Flush()
}

// formatTime shows t relative to now on a terminal and as RFC 3339 otherwise.
// canConfirm refuses, before anything is looked at, a destructive command
// that has no terminal to ask on and no --yes: a cron job must not work
// only while there happens to be nothing to destroy.
func canConfirm(io *IOStreams, what string) error {
	if !io.CanPrompt() {
		return flagErrorf("There is no terminal to confirm on (%s); pass --yes to go ahead, or --dry-run to see what would happen", lowerFirst(what))
	}
	return nil
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func (io *IOStreams) formatTime(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	if !io.OutTTY {
		return t.UTC().Format(time.RFC3339)
	}
	d := t.Sub(now)
	switch {
	case d > 0:
		return "in " + roundDuration(d)
	default:
		return roundDuration(-d) + " ago"
	}
}

func roundDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

// confirmDestructive asks a person to confirm what ("Release +44… and end
// …"). Without a terminal to ask on it refuses (exit 2) and says to pass
// --yes; a "no" is a declined error (exit 1) saying nothing was done.
func confirmDestructive(io *IOStreams, what, nothing string) error {
	if err := canConfirm(io, what); err != nil {
		return err
	}
	if !io.confirm(what + "?") {
		return &maskcall.Error{Code: maskcall.ECANCELED, Reason: "declined", Message: nothing}
	}
	return nil
}
