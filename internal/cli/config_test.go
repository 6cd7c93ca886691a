package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// isolateEnv runs the test in an empty directory with every maskcall and
// Vonage variable unset (and restored afterwards).
func isolateEnv(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("HOME", dir)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"))
	for _, k := range configKeys {
		for _, env := range k.envNames() {
			t.Setenv(env, "")
			os.Unsetenv(env)
		}
	}
	return dir
}

func showConfig(t *testing.T, args ...string) map[string]configEntry {
	t.Helper()
	io, out, errOut := TestIO()
	if code := Run(t.Context(), NewFactory(io), append([]string{"config", "show", "-o", "json"}, args...)); code != 0 {
		t.Fatalf("config show exited %d: %s", code, errOut)
	}
	var entries []configEntry
	if err := json.Unmarshal(out.Bytes(), &entries); err != nil {
		t.Fatal(err)
	}
	m := map[string]configEntry{}
	for _, e := range entries {
		m[e.Key] = e
	}
	return m
}

func TestConfig_Precedence(t *testing.T) {
	t.Run("Default", func(t *testing.T) {
		isolateEnv(t)
		got := showConfig(t)
		if e := got["vonage.rest_url"]; e.Value != "https://rest.nexmo.com" || e.Source != "default" {
			t.Fatalf("rest_url = %+v", e)
		}
		if e := got["db"]; !strings.HasSuffix(e.Value, filepath.Join("maskcall", "maskcall.db")) || e.Source != "default" {
			t.Fatalf("db = %+v", e)
		}
	})

	t.Run("FileEnvDotenvFlag", func(t *testing.T) {
		dir := isolateEnv(t)
		write(t, filepath.Join(dir, "maskcall.yaml"), "db: from-file.db\nvonage:\n  api_key: filekey\n  application_id: fileapp\n  rest_url: http://file\n")
		write(t, filepath.Join(dir, ".env"), "VONAGE_API_KEY=dotenvkey\nVONAGE_REST_URL=http://dotenv\n")
		t.Setenv("VONAGE_REST_URL", "http://env")
		t.Setenv("MASKCALL_DB", "from-env.db")

		got := showConfig(t, "--db", "from-flag.db")
		want := map[string][2]string{
			"db":                    {"from-flag.db", "flag --db"},
			"vonage.rest_url":       {"http://env", "env VONAGE_REST_URL"},
			"vonage.api_key":        {"dotenvkey", ".env VONAGE_API_KEY"},
			"vonage.application_id": {"fileapp", "file maskcall.yaml"},
			"vonage.api_url":        {"https://api.nexmo.com", "default"},
		}
		for k, w := range want {
			if e := got[k]; e.Value != w[0] || e.Source != w[1] {
				t.Errorf("%s = %q from %q, want %q from %q", k, e.Value, e.Source, w[0], w[1])
			}
		}
	})

	t.Run("MaskcallPrefixBeatsVonageName", func(t *testing.T) {
		isolateEnv(t)
		t.Setenv("VONAGE_API_KEY", "plain")
		t.Setenv("MASKCALL_VONAGE_API_KEY", "prefixed")
		if e := showConfig(t)["vonage.api_key"]; e.Value != "prefixed" || e.Source != "env MASKCALL_VONAGE_API_KEY" {
			t.Fatalf("api_key = %+v", e)
		}
	})

	t.Run("DotenvNeverBeatsTheRealEnvironment", func(t *testing.T) {
		dir := isolateEnv(t)
		// .env names the key by its other name; the real variable still wins.
		write(t, filepath.Join(dir, ".env"), "MASKCALL_VONAGE_API_KEY=from-dotenv\n")
		t.Setenv("VONAGE_API_KEY", "from-real-env")
		if e := showConfig(t)["vonage.api_key"]; e.Value != "from-real-env" || e.Source != "env VONAGE_API_KEY" {
			t.Fatalf("api_key = %+v", e)
		}
	})

	t.Run("EmptyVariableIsUnset", func(t *testing.T) {
		dir := isolateEnv(t)
		write(t, filepath.Join(dir, "maskcall.yaml"), "vonage:\n  api_key: filekey\n")
		t.Setenv("VONAGE_API_KEY", "")
		if e := showConfig(t)["vonage.api_key"]; e.Value != "filekey" || e.Source != "file maskcall.yaml" {
			t.Fatalf("api_key = %+v", e)
		}
	})

	t.Run("UserConfigDir", func(t *testing.T) {
		dir := isolateEnv(t)
		write(t, filepath.Join(dir, "xdg", "maskcall", "config.yaml"), "vonage:\n  api_key: userkey\n")
		if e := showConfig(t)["vonage.api_key"]; e.Value != "userkey" || !strings.HasPrefix(e.Source, "file ") {
			t.Fatalf("api_key = %+v", e)
		}
	})

	t.Run("ExplicitConfigMissing", func(t *testing.T) {
		isolateEnv(t)
		io, _, errOut := TestIO()
		code := Run(t.Context(), NewFactory(io), []string{"config", "show", "--config", "nope.yaml"})
		if code != exitConfig || !strings.Contains(errOut.String(), "nope.yaml") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})
}

func TestConfigShow_SecretsMasked(t *testing.T) {
	isolateEnv(t)
	t.Setenv("VONAGE_API_SECRET", "s3cr3t-value")
	t.Setenv("VONAGE_SIGNATURE_SECRET", "sig-s3cr3t")
	for _, output := range []string{"table", "json"} {
		io, out, errOut := TestIO()
		if code := Run(t.Context(), NewFactory(io), []string{"config", "show", "-o", output}); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		all := out.String() + errOut.String()
		if strings.Contains(all, "s3cr3t") {
			t.Fatalf("%s output shows a secret:\n%s", output, all)
		}
		if !strings.Contains(all, "env VONAGE_API_SECRET") {
			t.Fatalf("%s output does not say where the secret came from:\n%s", output, all)
		}
	}
}

func TestConfig_RequireNamesTheWaysToSet(t *testing.T) {
	isolateEnv(t)
	cfg, err := loadConfig("", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.Require("vonage.api_key")
	if maskcall.ErrorCode(err) != maskcall.ECONFIG {
		t.Fatalf("code = %q", maskcall.ErrorCode(err))
	}
	msg := maskcall.ErrorMessage(err)
	for _, want := range []string{"vonage.api_key", "VONAGE_API_KEY", "maskcall.yaml", ".env"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not mention %q", msg, want)
		}
	}
}

func TestRun_ExitCodes(t *testing.T) {
	isolateEnv(t)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"UnknownFlag", []string{"numbers", "list", "--bogus"}, exitUsage, "unknown flag"},
		{"BadOutput", []string{"numbers", "list", "-o", "xml"}, exitUsage, "--output must be table or json"},
		{"BadCountry", []string{"numbers", "search", "--country", "XX"}, exitUsage, "unknown country code"},
		{"CountZero", []string{"numbers", "provision", "--country", "GB", "--count", "0"}, exitUsage, "--count must be between 1 and 100"},
		{"MissingCredentials", []string{"numbers", "search", "--country", "GB", "--db", "x.db"}, exitConfig, "vonage.api_key is not set"},
		{"BadNumber", []string{"conversation", "create", "12", "+447700900123", "--db", "x.db"}, exitUsage, "NUMBER_A"},
		{"ServeWithoutSecret", []string{"serve", "--db", "x.db", "--listen", "127.0.0.1:0"}, exitConfig, "vonage.signature_secret is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, out, errOut := TestIO()
			code := Run(t.Context(), NewFactory(io), tt.args)
			if code != tt.wantCode {
				t.Fatalf("exit = %d, want %d (stderr %q)", code, tt.wantCode, errOut)
			}
			if !strings.Contains(errOut.String(), tt.wantStderr) {
				t.Fatalf("stderr = %q, want it to contain %q", errOut, tt.wantStderr)
			}
			if out.Len() != 0 {
				t.Fatalf("stdout = %q, want nothing", out)
			}
			if lines := strings.Count(strings.TrimSpace(errOut.String()), "\n"); lines > 1 {
				t.Fatalf("stderr has %d lines, want a short message: %q", lines+1, errOut)
			}
		})
	}
}

func TestNewCmdConversationCreate(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    ConversationCreateOptions
		wantErr string
	}{
		{name: "Defaults", args: []string{"+447700900123", "+442079460321"},
			want: ConversationCreateOptions{Numbers: []string{"+447700900123", "+442079460321"}, Insight: "", Output: "table"}},
		{name: "AllFlags", args: []string{"07700 900123", "020 7946 0321", "--country", "gb", "--ref", "r1", "--ttl", "2h",
			"--label-a", "driver", "--label-b", "rider", "--no-sms", "--insight", "none", "--auto-provision", "-o", "json"},
			want: ConversationCreateOptions{Numbers: []string{"07700 900123", "020 7946 0321"}, Country: "GB", Ref: "r1", TTL: 7200e9, TTLSet: true,
				LabelA: "driver", LabelB: "rider", NoSMS: true, Insight: "none", AutoProv: true, Output: "json"}},
		{name: "BadInsight", args: []string{"1", "2", "--insight", "full"}, wantErr: "--insight must be auto, format, basic or none"},
		{name: "OneNumber", args: []string{"+447700900123"}, wantErr: "accepts 2 arg(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, _, _ := TestIO()
			var got *ConversationCreateOptions
			cmd := NewCmdConversationCreate(NewFactory(io), func(_ context.Context, o *ConversationCreateOptions) error {
				got = o
				return nil
			})
			cmd.SetArgs(tt.args)
			cmd.SetOut(io.Out)
			cmd.SetErr(io.ErrOut)
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.IO, got.Service, got.Config, got.Now = nil, nil, nil, nil
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("opts = %+v\nwant   %+v", *got, tt.want)
			}
		})
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
