package sandbox

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Server serves a Sandbox over HTTP.
type Server struct {
	// Addr is the address to listen on, such as ":8080" or "127.0.0.1:0".
	Addr    string
	Sandbox *Sandbox

	ln     net.Listener
	server *http.Server
	done   chan struct{}
}

// NewServer returns a Server for sb listening on addr once opened.
func NewServer(addr string, sb *Sandbox) *Server {
	return &Server{Addr: addr, Sandbox: sb}
}

// Open listens on Addr and serves in the background. When the sandbox has no
// region URL configured it becomes the server's URL.
func (s *Server) Open() error {
	if s.Sandbox == nil {
		return errors.New("sandbox: Server has no Sandbox")
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.server = &http.Server{Handler: s.Sandbox, ReadHeaderTimeout: 10 * time.Second}
	s.done = make(chan struct{})
	s.Sandbox.setRegionURL(s.URL())
	go func() {
		defer close(s.done)
		_ = s.server.Serve(ln)
	}()
	return nil
}

// URL returns the base URL of the running server, such as
// "http://127.0.0.1:41234"; "" before Open.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	addr := s.ln.Addr().(*net.TCPAddr)
	host := "127.0.0.1"
	if !addr.IP.IsUnspecified() {
		host = addr.IP.String() // [::1] stays IPv6: 127.0.0.1 would not reach it
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(addr.Port))
}

// Close stops the server, waiting up to 5 seconds for requests in flight,
// and for webhooks the sandbox is still sending.
func (s *Server) Close() error {
	if s.server == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.server.Shutdown(ctx)
	<-s.done
	s.Sandbox.Wait()
	return err
}
