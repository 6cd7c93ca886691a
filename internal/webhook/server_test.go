package webhook

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/httpserver"
	"github.com/maskcall/maskcall/internal/maskcall"
)

func TestNewChecksConfig(t *testing.T) {
	store := newFakeStore()
	router := &maskcall.Router{Routes: store, Calls: store}
	const pub = "https://maskcall.example"
	for _, tt := range []struct {
		name, field string
		cfg         Config
	}{
		{"unsigned not allowed", "SignatureSecret", Config{PublicURL: pub}},
		{"no API key", "APIKey", Config{SignatureSecret: "s", PublicURL: pub}},
		{"no public URL", "PublicURL", Config{AllowUnsigned: true}},
		{"call too long", "MaxCallLength", Config{AllowUnsigned: true, PublicURL: pub, MaxCallLength: 3 * time.Hour}},
		{"call too short", "MaxCallLength", Config{AllowUnsigned: true, PublicURL: pub, MaxCallLength: time.Millisecond}},
		{"negative style", "Style", Config{AllowUnsigned: true, PublicURL: pub, Style: -1}},
		{"bad language", "Language", Config{AllowUnsigned: true, PublicURL: pub, Language: `en"GB`}},
		{"public URL not http", "PublicURL", Config{AllowUnsigned: true, PublicURL: "ftp://example.com"}},
		{"public URL relative", "PublicURL", Config{AllowUnsigned: true, PublicURL: "example.com"}},
		{"public URL with query", "PublicURL", Config{AllowUnsigned: true, PublicURL: "https://example.com/?a=b"}},
		{"text too long", "ConnectText", Config{AllowUnsigned: true, PublicURL: pub, ConnectText: strings.Repeat("a", 1501)}},
		{"negative replay cache", "ReplayCacheSize", Config{AllowUnsigned: true, PublicURL: pub, ReplayCacheSize: -1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(router, tt.cfg)
			if maskcall.ErrorCode(err) != maskcall.ECONFIG {
				t.Errorf("err = %v, want ECONFIG", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Errorf("err = %#v, want a FieldError for %s", err, tt.field)
			}
		})
	}
	if _, err := New(nil, Config{AllowUnsigned: true, PublicURL: pub}); err == nil {
		t.Error("nil router accepted")
	}
	h, err := New(router, Config{SignatureSecret: "s", APIKey: "k", PublicURL: pub + "/"})
	if err != nil {
		t.Fatal(err)
	}
	c := h.Config
	if c.ConnectText != DefaultConnectText || c.NotInServiceText != DefaultNotInServiceText || c.Language != "en-GB" ||
		c.MaxCallLength != time.Hour || c.Style != 0 || c.PublicURL != pub {
		t.Errorf("defaults = %+v", c)
	}
}

// TestMountOnServer: the handlers answer over the network once mounted on
// an httpserver.Server, beside what else is mounted there.
func TestMountOnServer(t *testing.T) {
	e := newTestEnv(t, Config{})
	s := httpserver.New("127.0.0.1:0")
	s.Handle("GET /healthz", httpserver.Health())
	e.srv.Mount(s)
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for path, want := range map[string]string{
		"/healthz": `"ok"`,
		"/proxy-call?" + answerQuery("447700900001", "447700900101", "U-NET"): `"action":"connect"`,
	} {
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s = %d %s", path, resp.StatusCode, body)
		}
	}
}
