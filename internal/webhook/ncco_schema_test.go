package webhook

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// findVonageSpec walks up from the working directory to a directory that
// holds shared/vonage-spec and returns that path, or "".
func findVonageSpec(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "vonage-spec")
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func nccoSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	spec := findVonageSpec(t)
	if spec == "" {
		t.Skip("shared/vonage-spec not found above the working directory: vonage-spec not found; NCCO schema conformance not checked")
	}
	path := filepath.Join(spec, "ncco-schema.json")
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("%s: %v; vonage-spec not found; NCCO schema conformance not checked", path, err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("ncco-schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("ncco-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func validateNCCO(t *testing.T, sch *jsonschema.Schema, body []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
	return sch.Validate(v)
}

func TestNCCOSchemaConformance(t *testing.T) {
	sch := nccoSchema(t)

	// The schema is strict enough to catch what matters.
	for _, bad := range []string{
		`[]`,
		`[{"action":"connect","from":"+447700900102","endpoint":[{"type":"phone","number":"447700900002"}]}]`,
		`[{"action":"connect","endpoint":[{"type":"phone","number":"+447700900002"}]}]`,
		`[{"action":"connect","endpoint":[{"type":"phone","number":"447700900002"}],"limit":7201}]`,
		`[{"action":"talk","text":"x","language":"xx-XX"}]`,
	} {
		if validateNCCO(t, sch, []byte(bad)) == nil {
			t.Errorf("the schema accepts %s", bad)
		}
	}

	connectGET := "/proxy-call?" + answerQuery("447700900001", "447700900101", "U")
	strangerGET := "/proxy-call?" + answerQuery("447700900003", "447700900101", "U")
	cases := []struct {
		name   string
		cfg    Config
		host   string // Host header; with cfg.PublicURL "-" the server derives eventUrl
		target string
		want   string // action of the last NCCO element
	}{
		{"connect, defaults", Config{}, "", connectGET, "connect"},
		{"connect, all options", Config{PublicURL: "https://abc.ngrok.app/maskcall", ConnectText: "Hold on & wait <please>.",
			NotInServiceText: "Nobody here.", Language: "cy-GB", Style: 1, MaxCallLength: 7200 * time.Second}, "", connectGET, "connect"},
		{"connect, shortest limit", Config{MaxCallLength: time.Second}, "", connectGET, "connect"},
		{"connect, eventUrl from Host", Config{PublicURL: "-"}, "abc.ngrok.app", connectGET, "connect"},
		{"connect, no eventUrl", Config{PublicURL: "-"}, "bad host!", connectGET, "connect"},
		{"not in service, defaults", Config{}, "", strangerGET, "talk"},
		{"not in service, all options", Config{NotInServiceText: "Nobody here.", Language: "en-US", Style: 3}, "", strangerGET, "talk"},
		{"not in service, malformed", Config{}, "", "/proxy-call?from=%zz", "talk"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			derive := cfg.PublicURL == "-"
			if derive {
				cfg.PublicURL = ""
			}
			e := newTestEnv(t, cfg)
			if derive {
				cfg.AllowUnsigned = true
				e.srv = mustServer(t, e, cfg)
			}
			req := httptest.NewRequest("GET", tt.target, nil)
			if tt.host != "" {
				req.Host = tt.host
			}
			rec := e.do(req)
			n := decodeNCCO(t, rec)
			if n[len(n)-1].Action != tt.want {
				t.Fatalf("NCCO = %s, want it to end with %s", rec.Body.String(), tt.want)
			}
			if err := validateNCCO(t, sch, rec.Body.Bytes()); err != nil {
				t.Errorf("NCCO %s does not conform to the schema: %v", rec.Body.String(), err)
			}
		})
	}
}
