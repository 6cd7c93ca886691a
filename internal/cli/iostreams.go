package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// IOStreams carries a command's input and output: data to Out, status and
// errors to ErrOut, so `-o json` output stays clean for scripts.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// OutTTY says Out is a terminal: tables get headers and relative times.
	OutTTY bool
}

// System returns the process's standard streams.
func System() *IOStreams {
	return &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, OutTTY: isTerminal(os.Stdout)}
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
