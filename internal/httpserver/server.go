// Package httpserver is the one HTTP lifecycle of maskcall: a Server is a
// listener with its own mux, timeouts and graceful shutdown, and packages
// mount their handlers on it (the Vonage webhooks today; the platform API,
// the inbound SMS webhook and metrics next). `serve` may run several
// Servers, one per listen address (say the webhooks on :3000 and metrics on
// 127.0.0.1:9090), and a Group opens and closes them together.
//
// The lifecycle follows benbjohnson/wtf's http.Server: Listen binds the
// address synchronously, so a port in use fails at once with a coded
// error; Serve serves in a goroutine; Close shuts down gracefully, waiting
// up to Timeouts.Shutdown for requests in flight. Addr ":0" picks a free
// port and URL reports it, for tests.
//
// The package also holds the one table from maskcall's error codes to HTTP
// statuses and problem types (errors.go).
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// Timeouts of a Server. A zero field takes its DefaultTimeouts value.
type Timeouts struct {
	ReadHeader time.Duration // reading a request's headers
	Read       time.Duration // reading a whole request, body included
	Write      time.Duration // from the end of the headers to the end of the reply
	Idle       time.Duration // a keep-alive connection waiting for its next request
	Shutdown   time.Duration // Close waiting for requests in flight
}

// DefaultTimeouts suit webhooks: small bodies, replies within seconds.
var DefaultTimeouts = Timeouts{
	ReadHeader: 5 * time.Second,
	Read:       10 * time.Second,
	Write:      15 * time.Second,
	Idle:       60 * time.Second,
	Shutdown:   5 * time.Second,
}

// DefaultMaxHeaderBytes bounds a request's headers.
const DefaultMaxHeaderBytes = 64 << 10

// Server is one listener and the mux behind it. Set its fields before
// Listen; Handle may be called until Serve.
type Server struct {
	// Addr is the address to listen on, e.g. ":3000" or "127.0.0.1:0".
	Addr string
	// Name says what the listener is for in errors and logs ("webhooks",
	// "metrics"); default "HTTP".
	Name string
	// Timeouts; zero fields take DefaultTimeouts'.
	Timeouts Timeouts
	// MaxHeaderBytes; 0 is DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// Logger gets the server's own errors (bad requests net/http refuses,
	// a listener that fails). Nil: slog.Default().
	Logger *slog.Logger

	mux      *http.ServeMux
	mu       sync.Mutex
	ln       net.Listener
	srv      *http.Server
	serveErr chan error
}

// New returns a server for addr with an empty mux.
func New(addr string) *Server {
	return &Server{Addr: addr, mux: http.NewServeMux()}
}

// Handle mounts h on the server's mux for pattern (http.ServeMux syntax:
// "GET /healthz", "POST /webhooks/event", "/v1/"), wrapped in mw, the
// first of mw outermost.
func (s *Server) Handle(pattern string, h http.Handler, mw ...Middleware) {
	s.mux.Handle(pattern, Chain(h, mw...))
}

// Mux returns the server's mux, for packages that mount several routes.
func (s *Server) Mux() *http.ServeMux { return s.mux }

func (s *Server) name() string {
	if s.Name == "" {
		return "HTTP"
	}
	return s.Name
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// Listen binds s.Addr. A port in use (or any other failure) is an ECONFIG
// error at once. Requests are accepted by the kernel from here on and
// served once Serve runs.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return maskcall.Errorf(maskcall.ECONFLICT, "The %s server is already listening on %s.", s.name(), s.ln.Addr())
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return &maskcall.Error{Code: maskcall.ECONFIG, Err: err,
			Message: fmt.Sprintf("The %s server cannot listen on %s: %v.", s.name(), s.Addr, unwrapOpError(err))}
	}
	s.ln = ln
	return nil
}

// unwrapOpError drops net.OpError's "listen tcp 127.0.0.1:3000:" prefix,
// which repeats the address.
func unwrapOpError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// Serve starts serving the bound listener in a goroutine. It listens first
// if Listen was not called.
func (s *Server) Serve() error {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return maskcall.Errorf(maskcall.ECONFLICT, "The %s server is already serving.", s.name())
	}
	t := s.Timeouts
	d := DefaultTimeouts
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: or(t.ReadHeader, d.ReadHeader),
		ReadTimeout:       or(t.Read, d.Read),
		WriteTimeout:      or(t.Write, d.Write),
		IdleTimeout:       or(t.Idle, d.Idle),
		MaxHeaderBytes:    or(s.MaxHeaderBytes, DefaultMaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(s.logger().Handler(), slog.LevelWarn),
	}
	s.serveErr = make(chan error, 1)
	go func(srv *http.Server, ln net.Listener, ch chan<- error) {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		} else if err != nil {
			s.logger().Error(s.name()+" server stopped", "err", err)
		}
		ch <- err
	}(s.srv, s.ln, s.serveErr)
	return nil
}

// Open listens and serves: Listen then Serve.
func (s *Server) Open() error {
	if err := s.Listen(); err != nil {
		return err
	}
	return s.Serve()
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// ListenAddr returns the bound address, nil before Listen.
func (s *Server) ListenAddr() *net.TCPAddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	a, _ := s.ln.Addr().(*net.TCPAddr)
	return a
}

// URL returns the server's base URL, e.g. http://127.0.0.1:3000, or "" if
// it is not listening. An unspecified address (":3000") is shown as
// 127.0.0.1.
func (s *Server) URL() string {
	a := s.ListenAddr()
	if a == nil {
		return ""
	}
	host := "127.0.0.1"
	if !a.IP.IsUnspecified() {
		host = a.IP.String()
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(a.Port))
}

// Port returns the port the server listens on, 0 if it is not listening.
func (s *Server) Port() int {
	if a := s.ListenAddr(); a != nil {
		return a.Port
	}
	return 0
}

// HTTPServer returns the net/http server once Serve ran (tests check its
// settings); nil otherwise.
func (s *Server) HTTPServer() *http.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// Close shuts the server down gracefully: it stops accepting, waits up to
// Timeouts.Shutdown for requests in flight, then closes what is left.
// Closing a server that is not listening does nothing; a server can Listen
// again after Close.
func (s *Server) Close() error {
	s.mu.Lock()
	srv, ln, ch := s.srv, s.ln, s.serveErr
	s.srv, s.ln, s.serveErr = nil, nil, nil
	s.mu.Unlock()
	if srv == nil {
		if ln != nil {
			return ln.Close() // bound but never served
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), or(s.Timeouts.Shutdown, DefaultTimeouts.Shutdown))
	defer cancel()
	err := srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, srv.Close())
	}
	if serr := <-ch; err == nil {
		err = serr
	}
	return err
}

// IsLoopback reports whether addr (host:port as for Listen) binds only the
// loopback interface: "127.0.0.1:3000", "[::1]:0", "localhost:3000". An
// empty host (":3000") binds every interface and is not loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Group is several Servers run together (webhooks, API, metrics, each on
// its own address).
type Group []*Server

// Open listens on every server's address first, so that a port in use fails
// before anything serves, then serves them all. On an error nothing is left
// listening.
func (g Group) Open() error {
	for i, s := range g {
		if err := s.Listen(); err != nil {
			for _, o := range g[:i] {
				_ = o.Close()
			}
			return err
		}
	}
	for _, s := range g {
		if err := s.Serve(); err != nil {
			_ = g.Close()
			return err
		}
	}
	return nil
}

// Close closes every server at the same time (each waits for its own
// requests in flight) and returns their errors joined.
func (g Group) Close() error {
	errs := make([]error, len(g))
	var wg sync.WaitGroup
	for i, s := range g {
		wg.Go(func() { errs[i] = s.Close() })
	}
	wg.Wait()
	return errors.Join(errs...)
}
