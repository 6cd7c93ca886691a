package maskcall_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// edgeWording matches what only an edge may say: a flag, a config key or
// environment variable, a maskcall command. The domain's messages are read
// by CLI users and API clients alike, so advice in those words belongs to
// the edge's hint table (internal/cli/hints.go).
var edgeWording = []struct {
	what string
	re   *regexp.Regexp
}{
	{"a flag", regexp.MustCompile(`(^|[\s("'` + "`" + `])--[a-z]`)},
	{"a config key", regexp.MustCompile(`\b(vonage|sms|conversation|serve|voice)\.[a-z]+_?[a-z_]*\b|\bmaskcall\.yaml\b|\.env\b`)},
	{"an environment variable", regexp.MustCompile(`\b(VONAGE|MASKCALL)_[A-Z_]+`)},
	{"a command", regexp.MustCompile("maskcall (numbers|conversation|serve|sandbox|config|demo|version|completion|help)\\b|`maskcall")},
}

// TestMessagesNameNoFlagConfigOrCommand scans every string literal of the
// package's Go source (tests excepted) for CLI or config wording.
func TestMessagesNameNoFlagConfigOrCommand(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var scanned int
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ImportSpec:
				return false // import paths are not messages
			case *ast.ValueSpec:
				// Callback event types ("conversation.created") are wire
				// names, not messages.
				if len(n.Names) > 0 && strings.HasPrefix(n.Names[0].Name, "Event") {
					return false
				}
			case *ast.Field:
				// Struct tags (`json:"..."`) are not messages; the field's
				// type and names hold none either.
				return false
			case *ast.BasicLit:
				if n.Kind != token.STRING {
					return true
				}
				s, err := strconv.Unquote(n.Value)
				if err != nil {
					t.Fatalf("%s: %v", fset.Position(n.Pos()), err)
				}
				scanned++
				for _, w := range edgeWording {
					if m := w.re.FindString(s); m != "" {
						t.Errorf("%s: %q names %s (%q); give the error a Reason and put the advice in internal/cli/hints.go",
							fset.Position(n.Pos()), s, w.what, strings.TrimSpace(m))
					}
				}
			}
			return true
		})
	}
	if scanned < 50 {
		t.Fatalf("scanned only %d string literals; is the test looking at the package's source?", scanned)
	}
}

// TestEdgeWordingPatterns checks the patterns catch what they are for and
// let ordinary messages through.
func TestEdgeWordingPatterns(t *testing.T) {
	bad := []string{
		"Retry, or pass --insight none to skip the check.",
		"Rent more with `maskcall numbers provision --country GB --count 1`.",
		"Set vonage.application_id (VONAGE_APPLICATION_ID).",
		"Run maskcall numbers reconcile to settle it first.",
		"add it to maskcall.yaml",
		"sms.template has an unknown placeholder",
	}
	good := []string{
		"No pool number is free for driver (+44*******123, GB).",
		"A conversation's time to live must be positive, got -1s.",
		"Conversation cv_1 is not active; there is nothing to notify.",
		"+447700900123",
		"Unknown number feature \"FAX\"; use VOICE, SMS or MMS.",
	}
	match := func(s string) bool {
		for _, w := range edgeWording {
			if w.re.MatchString(s) {
				return true
			}
		}
		return false
	}
	for _, s := range bad {
		if !match(s) {
			t.Errorf("%q is not caught", s)
		}
	}
	for _, s := range good {
		if match(s) {
			t.Errorf("%q is caught but is a fine domain message", s)
		}
	}
}
