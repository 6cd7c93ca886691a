package cli

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/sandbox"
	"github.com/maskcall/maskcall/internal/sqlite"
)

// testEnv is a maskcall installation for in-process command tests: an
// empty working directory, a real SQLite file in it, and the Vonage sandbox
// over real HTTP on loopback, wired in through the environment as a user
// would.
type testEnv struct {
	t      *testing.T
	dir    string
	DB     string
	SB     *sandbox.Sandbox
	SBURL  string
	appID  string
	closed bool
}

// newTestEnv starts the sandbox and points maskcall at it. The application
// id is the sandbox's, so numbers can be linked.
func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	dir := isolateEnv(t)
	sb := sandbox.New(sandbox.Config{SignatureSecret: sandboxSignatureSecret, ApplicationID: sandboxApplicationID})
	srv := sandbox.NewServer("127.0.0.1:0", sb)
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	e := &testEnv{t: t, dir: dir, DB: filepath.Join(dir, "maskcall.db"), SB: sb, SBURL: srv.URL(), appID: sandboxApplicationID}
	for k, v := range map[string]string{
		"VONAGE_API_KEY":          sandbox.DefaultAPIKey,
		"VONAGE_API_SECRET":       sandbox.DefaultAPISecret,
		"VONAGE_APPLICATION_ID":   sandboxApplicationID,
		"VONAGE_SIGNATURE_SECRET": sandboxSignatureSecret,
		"VONAGE_REST_URL":         srv.URL(),
		"VONAGE_API_URL":          srv.URL(),
		"MASKCALL_DB":             e.DB,
	} {
		t.Setenv(k, v)
	}
	return e
}

// result is what one command line did.
type result struct {
	Code   int
	Stdout string
	Stderr string
}

// run executes one command line in-process, as the binary would.
func (e *testEnv) run(args ...string) result {
	e.t.Helper()
	io, out, errOut := TestIO()
	code := Run(e.t.Context(), NewFactory(io), args)
	return result{code, out.String(), errOut.String()}
}

// must runs a command line that must succeed.
func (e *testEnv) must(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.Code != 0 {
		e.t.Fatalf("maskcall %s exited %d: %s", strings.Join(args, " "), r.Code, r.Stderr)
	}
	return r
}

// factory returns a Factory on fresh test streams, for xRun tests.
func (e *testEnv) factory() (*Factory, *IOStreams, *strings.Builder, *strings.Builder) {
	e.t.Helper()
	out, errOut := &strings.Builder{}, &strings.Builder{}
	io := &IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut}
	f := NewFactory(io)
	e.t.Cleanup(f.Close)
	return f, io, out, errOut
}

// exitFor is the exit status Run would give err.
func exitFor(err error) int {
	if err == nil {
		return exitOK
	}
	io, _, _ := TestIO()
	return printError(io, hintContext{}, err)
}

// tty makes io a terminal on both ends, a person answering with answer.
func tty(io *IOStreams, answer string) {
	io.InTTY, io.ErrTTY, io.OutTTY = true, true, true
	io.In = strings.NewReader(answer)
}

// provision rents n numbers through the command line.
func (e *testEnv) provision(n int) {
	e.t.Helper()
	e.must("numbers", "provision", "--country", "GB", "--count", strconv.Itoa(n))
}

// db opens the test database read-side, for checking what commands did.
func (e *testEnv) db() *sqlite.DB {
	e.t.Helper()
	db := sqlite.NewDB(e.DB)
	if err := db.Open(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	return db
}

// conversations lists the database's conversations with status ("" all).
func (e *testEnv) conversations(status maskcall.ConversationStatus) []*maskcall.Conversation {
	e.t.Helper()
	f := maskcall.ConversationFilter{}
	if status != "" {
		f.Status = &status
	}
	page, err := e.db().FindConversations(e.t.Context(), f, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return page.Conversations
}

// number returns a pool number's row.
func (e *testEnv) number(n string) *maskcall.Number {
	e.t.Helper()
	got, err := e.db().FindNumber(e.t.Context(), n, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

// owned lists the numbers the sandbox account owns.
func (e *testEnv) owned() []string {
	var out []string
	for _, n := range e.SB.OwnedNumbers() {
		out = append(out, "+"+n.MSISDN)
	}
	return out
}
