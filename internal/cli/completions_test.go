package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var updateCompletions = flag.Bool("update", false, "rewrite completions/ from the command tree")

// completionFiles maps each shell to its file under completions/ and to a
// line every real script for it has.
var completionFiles = map[string]struct{ file, marker string }{
	"bash":       {"maskcall.bash", "__start_maskcall()"},
	"zsh":        {"_maskcall", "#compdef maskcall"},
	"fish":       {"maskcall.fish", "complete -c maskcall "},
	"powershell": {"maskcall.ps1", "Register-ArgumentCompleter -CommandName 'maskcall'"},
}

const regenerate = "regenerate with: go test ./internal/cli -run TestCompletions -update"

// TestCompletions fails when completions/ no longer matches the command
// tree, or when a script is empty or not one (as when the scripts went to
// the process's stdout and "" was compared with "").
func TestCompletions(t *testing.T) {
	for shell, cf := range completionFiles {
		t.Run(shell, func(t *testing.T) {
			io, out, _ := TestIO()
			f := NewFactory(io)
			if code := Run(t.Context(), f, []string{"completion", shell}); code != 0 {
				t.Fatalf("completion %s exited %d", shell, code)
			}
			got := out.Bytes()
			checkScript(t, "maskcall completion "+shell, got, cf.marker)
			path := filepath.Join("..", "..", "completions", cf.file)
			if *updateCompletions {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v; %s", err, regenerate)
			}
			checkScript(t, "completions/"+cf.file, want, cf.marker)
			if !bytes.Equal(got, want) {
				t.Fatalf("completions/%s is stale; %s", cf.file, regenerate)
			}
		})
	}
}

// checkScript fails unless script is a completion script for the shell.
func checkScript(t *testing.T, what string, script []byte, marker string) {
	t.Helper()
	if len(bytes.TrimSpace(script)) == 0 {
		t.Fatalf("%s is empty; %s", what, regenerate)
	}
	if !bytes.Contains(script, []byte(marker)) {
		t.Fatalf("%s has no %q: not a completion script for maskcall; %s", what, marker, regenerate)
	}
}

// TestReleaseShipsCompletions checks .goreleaser.yaml regenerates
// completions/ before building and puts every script in each archive.
func TestReleaseShipsCompletions(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Before struct {
			Hooks []string `yaml:"hooks"`
		} `yaml:"before"`
		Archives []struct {
			Files []string `yaml:"files"`
		} `yaml:"archives"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	regenerates := false
	for _, h := range cfg.Before.Hooks {
		regenerates = regenerates || strings.Contains(h, "TestCompletions") && strings.Contains(h, "-update")
	}
	if !regenerates {
		t.Errorf(".goreleaser.yaml's before hooks %q do not regenerate completions/", cfg.Before.Hooks)
	}
	if len(cfg.Archives) == 0 {
		t.Fatal(".goreleaser.yaml has no archives")
	}
	for i, a := range cfg.Archives {
		for _, cf := range completionFiles {
			name := "completions/" + cf.file
			shipped := false
			for _, pattern := range a.Files {
				if ok, _ := filepath.Match(pattern, name); ok {
					shipped = true
				}
			}
			if !shipped {
				t.Errorf("archive %d (files %q) does not ship %s", i, a.Files, name)
			}
		}
	}
}
