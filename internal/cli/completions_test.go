package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var updateCompletions = flag.Bool("update", false, "rewrite completions/ from the command tree")

// completionFiles maps each shell to its file under completions/.
var completionFiles = map[string]string{
	"bash":       "maskcall.bash",
	"zsh":        "_maskcall",
	"fish":       "maskcall.fish",
	"powershell": "maskcall.ps1",
}

// TestCompletions fails when completions/ no longer matches the command
// tree. Regenerate with: go test ./internal/cli -run TestCompletions -update
func TestCompletions(t *testing.T) {
	for shell, file := range completionFiles {
		t.Run(shell, func(t *testing.T) {
			io, out, _ := TestIO()
			f := NewFactory(io)
			if code := Run(t.Context(), f, []string{"completion", shell}); code != 0 {
				t.Fatalf("completion %s exited %d", shell, code)
			}
			path := filepath.Join("..", "..", "completions", file)
			if *updateCompletions {
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v; generate it with: go test ./internal/cli -run TestCompletions -update", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Fatalf("completions/%s is stale; regenerate with: go test ./internal/cli -run TestCompletions -update", file)
			}
		})
	}
}
