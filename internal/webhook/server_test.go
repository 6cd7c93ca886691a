package webhook

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

func TestNewServerChecksConfig(t *testing.T) {
	store := newFakeStore()
	router := &maskcall.Router{Routes: store, Calls: store}
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"unsigned not allowed", Config{}},
		{"call too long", Config{AllowUnsigned: true, MaxCallLength: 3 * time.Hour}},
		{"call too short", Config{AllowUnsigned: true, MaxCallLength: time.Millisecond}},
		{"negative style", Config{AllowUnsigned: true, Style: -1}},
		{"bad language", Config{AllowUnsigned: true, Language: `en"GB`}},
		{"public URL not http", Config{AllowUnsigned: true, PublicURL: "ftp://example.com"}},
		{"public URL relative", Config{AllowUnsigned: true, PublicURL: "example.com"}},
		{"public URL with query", Config{AllowUnsigned: true, PublicURL: "https://example.com/?a=b"}},
		{"text too long", Config{AllowUnsigned: true, ConnectText: strings.Repeat("a", 1501)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewServer(":0", router, tt.cfg)
			if maskcall.ErrorCode(err) != maskcall.ECONFIG {
				t.Errorf("err = %v, want ECONFIG", err)
			}
		})
	}
	if _, err := NewServer(":0", nil, Config{AllowUnsigned: true}); err == nil {
		t.Error("nil router accepted")
	}
	s, err := NewServer(":0", router, Config{SignatureSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	c := s.Config
	if c.ConnectText != DefaultConnectText || c.NotInServiceText != DefaultNotInServiceText || c.Language != "en-GB" ||
		c.MaxCallLength != time.Hour || c.Style != 0 {
		t.Errorf("defaults = %+v", c)
	}
}

func TestOpenClose(t *testing.T) {
	e := newTestEnv(t, Config{})
	if e.srv.URL() != "" || e.srv.Port() != 0 {
		t.Error("URL or Port set before Open")
	}
	if err := e.srv.Open(); err != nil {
		t.Fatal(err)
	}
	defer e.srv.Close()
	if e.srv.Port() == 0 || !strings.HasPrefix(e.srv.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL %q port %d", e.srv.URL(), e.srv.Port())
	}
	resp, err := http.Get(e.srv.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Errorf("healthz = %d %s", resp.StatusCode, body)
	}
	resp, err = http.Get(e.srv.URL() + "/proxy-call?" + answerQuery("447700900001", "447700900101", "U-NET"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"action":"connect"`) {
		t.Errorf("answer over the network = %s", body)
	}

	// The port is taken: a second server fails at Open, at once.
	other := mustServer(t, e, Config{AllowUnsigned: true})
	other.Addr = "127.0.0.1:" + strconv.Itoa(e.srv.Port())
	if err := other.Open(); err == nil {
		other.Close()
		t.Fatal("Open on a port in use succeeded")
	} else if maskcall.ErrorCode(err) != maskcall.ECONFIG {
		t.Errorf("err = %v", err)
	}
	if err := e.srv.Open(); err == nil {
		t.Error("second Open succeeded")
	}

	url := e.srv.URL()
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(url + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("server still answers after Close")
	}
	if e.srv.URL() != "" {
		t.Error("URL set after Close")
	}
	if err := e.srv.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestServerTimeoutsSet(t *testing.T) {
	e := newTestEnv(t, Config{})
	if err := e.srv.Open(); err != nil {
		t.Fatal(err)
	}
	defer e.srv.Close()
	h := e.srv.srv
	if h.ReadHeaderTimeout == 0 || h.ReadTimeout == 0 || h.WriteTimeout == 0 || h.IdleTimeout == 0 || h.MaxHeaderBytes == 0 {
		t.Errorf("timeouts not all set: %+v", h)
	}
}
