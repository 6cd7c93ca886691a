package webhook

import (
	"bytes"
	"encoding/json"
	"net/url"
	"testing"
	"time"
)

// TestNCCOTemplatesAreMarshal: the pre-rendered replies of the answer path
// are byte for byte json.Marshal of the typed NCCO, whatever the
// configuration's texts, language, style, limit and public URL.
func TestNCCOTemplatesAreMarshal(t *testing.T) {
	configs := []Config{
		{},
		{ConnectText: `Connecting <you> & "them" \ now`, NotInServiceText: "Ce numéro n'est pas attribué. ☎\n\t", Language: "fr-FR", Style: 3},
		{MaxCallLength: 2 * time.Hour, PublicURL: "https://tunnel.example/base/"},
		{MaxCallLength: time.Second, PublicURL: "http://127.0.0.1:3000", ConnectText: "\u2028\u2029</script>"},
	}
	// from, number and the call's uuid: Vonage's form, one that needs
	// escaping in a query, and none (a call that is not recorded).
	numbers := [][3]string{{"447700900102", "447700900002", "63f61863-4a51-4f6b-86e1-46edebcf9356"},
		{"12025550100", "12025550123", `odd/uuid+1 "&\`}, {"4915112345678", "33612345678", ""}}
	for i, cfg := range configs {
		cfg.AllowUnsigned = true
		if cfg.PublicURL == "" {
			cfg.PublicURL = "https://maskcall.example"
		}
		if err := cfg.Check(); err != nil {
			t.Fatal(err)
		}
		tpl, err := newNCCOTemplates(cfg)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(NCCO{NewTalk(cfg.NotInServiceText, cfg.Language, cfg.Style)})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(tpl.notInService, want) {
			t.Errorf("config %d: not in service\n got %s\nwant %s", i, tpl.notInService, want)
		}
		for _, n := range numbers {
			want, err := json.Marshal(NCCO{
				NewTalk(cfg.ConnectText, cfg.Language, cfg.Style),
				NewConnect(n[0], n[1], cfg.PublicURL+"/webhooks/event?call="+url.QueryEscape(n[2]), cfg.MaxCallLength),
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := tpl.connectNCCO(n[0], n[1], n[2]); !bytes.Equal(got, want) {
				t.Errorf("config %d, %v: connect\n got %s\nwant %s", i, n, got, want)
			}
		}
	}
}

// TestNCCOShape pins the wire form of the typed NCCO: Vonage's field
// names, style always present, eventUrl a list.
func TestNCCOShape(t *testing.T) {
	b, err := json.Marshal(NCCO{NewTalk("Hi", "en-GB", 0), NewConnect("447700900102", "447700900002", "https://x.example/webhooks/event", time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	const want = `[{"action":"talk","text":"Hi","language":"en-GB","style":0},` +
		`{"action":"connect","from":"447700900102","endpoint":[{"type":"phone","number":"447700900002"}],` +
		`"eventUrl":["https://x.example/webhooks/event"],"limit":3600}]`
	if string(b) != want {
		t.Errorf("NCCO\n got %s\nwant %s", b, want)
	}
}
