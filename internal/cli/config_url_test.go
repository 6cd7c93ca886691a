package cli

import (
	"strings"
	"testing"

	"github.com/maskcall/maskcall/internal/maskcall"
)

func TestConfig_VonageURL(t *testing.T) {
	tests := []struct {
		url   string
		allow string
		ok    bool
	}{
		{"https://rest.nexmo.com", "", true},
		{"https://user:pw@rest.example.com/prefix", "", true},
		{"http://127.0.0.1:4010", "", true},
		{"http://127.8.9.10:4010", "", true},
		{"http://localhost:4010", "", true},
		{"http://LocalHost:4010", "", true},
		{"http://[::1]:4010", "", true},
		{"http://rest.nexmo.com", "", false},
		{"http://10.0.0.5:4010", "", false},
		{"http://127.0.0.1.nip.io:4010", "", false}, // names are not resolved
		{"http://localhost.evil.example", "", false},
		{"http://[::ffff:10.0.0.1]:80", "", false},
		{"ftp://127.0.0.1", "", false},
		{"127.0.0.1:4010", "", false},
		{"http://10.0.0.5:4010", "true", true},
		{"http://10.0.0.5:4010", "false", false},
	}
	for _, tt := range tests {
		t.Run(tt.url+"/"+tt.allow, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv("VONAGE_REST_URL", tt.url)
			if tt.allow != "" {
				t.Setenv("MASKCALL_VONAGE_ALLOW_INSECURE_URL", tt.allow)
			}
			cfg, err := loadConfig("", nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := cfg.VonageURL("vonage.rest_url")
			if tt.ok {
				if err != nil || got != tt.url {
					t.Fatalf("VonageURL = %q, %v; want %q accepted", got, err, tt.url)
				}
				return
			}
			if maskcall.ErrorCode(err) != maskcall.ECONFIG {
				t.Fatalf("VonageURL = %q, %v; want it refused (not_configured)", got, err)
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Fatalf("error shows the URL's password: %v", err)
			}
		})
	}
	t.Run("BadSwitch", func(t *testing.T) {
		isolateEnv(t)
		t.Setenv("VONAGE_REST_URL", "http://10.0.0.5")
		t.Setenv("MASKCALL_VONAGE_ALLOW_INSECURE_URL", "yes please")
		cfg, err := loadConfig("", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cfg.VonageURL("vonage.rest_url"); maskcall.ErrorCode(err) != maskcall.ECONFIG || !strings.Contains(err.Error(), "allow_insecure_url") {
			t.Fatalf("VonageURL with a malformed switch = %v", err)
		}
	})
}

func TestMaskURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://rest.nexmo.com":                     "https://rest.nexmo.com",
		"https://user:pass@host.example/x":           "https://user:xxxxx@host.example/x",
		"https://user@host.example":                  "https://user@host.example",
		"postgres://app:s3cret@db:5432/maskcall":     "postgres://app:xxxxx@db:5432/maskcall",
		"postgres://db/maskcall?password=s3cret&x=1": "postgres://db/maskcall?password=xxxxx&x=1",
		"/var/lib/maskcall/maskcall.db":              "/var/lib/maskcall/maskcall.db",
		"https://us er:p%zz@host":                    "******** (an unreadable URL with credentials)",
		"Call this number to reach {label}.":         "Call this number to reach {label}.",
	} {
		if got := maskURL(in); got != want {
			t.Errorf("maskURL(%q) = %q, want %q", in, got, want)
		}
	}
}
