package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/sqlite"
)

func TestNewCmdAPIKeyCreate(t *testing.T) {
	for _, tt := range []struct {
		args     []string
		name     string
		readOnly bool
		wantErr  string
	}{
		{args: []string{"--name", "dispatch"}, name: "dispatch"},
		{args: []string{"--name", "ro", "--read-only"}, name: "ro", readOnly: true},
		{args: nil, wantErr: "--name is required"},
		{args: []string{"--name", "x", "-o", "yaml"}, wantErr: "yaml"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			io, _, _ := TestIO()
			var got *APIKeyCreateOptions
			cmd := NewCmdAPIKeyCreate(NewFactory(io), func(_ context.Context, o *APIKeyCreateOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetErr(io.ErrOut)
			cmd.SetOut(io.Out)
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Name != tt.name || got.ReadOnly != tt.readOnly {
				t.Fatalf("opts %+v, err %v", got, err)
			}
		})
	}
}

func mustAPIKeyDB(t *testing.T) *sqlite.DB {
	t.Helper()
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "maskcall.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestAPIKeyRuns(t *testing.T) {
	db := mustAPIKeyDB(t)
	store := func() (maskcall.APIKeyStore, error) { return db, nil }
	now := func() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) }
	ctx := context.Background()

	io, out, errOut := TestIO()
	if err := apiKeyCreateRun(ctx, &APIKeyCreateOptions{IO: io, Store: store, Now: now, Name: "dispatch"}); err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(out.String())
	if !strings.HasPrefix(secret, maskcall.APIKeyPrefix) || !strings.Contains(errOut.String(), "shown only this once") {
		t.Fatalf("create printed %q / %q", out, errOut)
	}
	if _, err := maskcall.AuthenticateAPIKey(ctx, db, secret); err != nil {
		t.Fatalf("the printed key does not authenticate: %v", err)
	}
	err := apiKeyCreateRun(ctx, &APIKeyCreateOptions{IO: io, Store: store, Now: now, Name: "dispatch"})
	if maskcall.ErrorCode(err) != maskcall.ECONFLICT || maskcall.ErrorReason(err) != "key_name" {
		t.Fatalf("duplicate name: %v", err)
	}

	io, out, _ = TestIO()
	if err := apiKeyListRun(ctx, &APIKeyListOptions{IO: io, Store: store, Now: now, Output: outputJSON}); err != nil {
		t.Fatal(err)
	}
	var keys []map[string]any
	if err := json.Unmarshal(out.Bytes(), &keys); err != nil || len(keys) != 1 || keys[0]["prefix"] != secret[:maskcall.APIKeyShownChars] {
		t.Fatalf("list -o json: %s (%v)", out, err)
	}
	if strings.Contains(out.String(), secret) {
		t.Fatal("list shows the key")
	}

	// Without a terminal and without --yes nothing is revoked.
	io, _, _ = TestIO()
	err = apiKeyRevokeRun(ctx, &APIKeyRevokeOptions{IO: io, Store: store, Now: now, Key: "dispatch"})
	if err == nil {
		t.Fatal("revoke without a terminal or --yes succeeded")
	}
	if _, err := maskcall.AuthenticateAPIKey(ctx, db, secret); err != nil {
		t.Fatalf("a refused revoke revoked: %v", err)
	}
	// A person who answers no revokes nothing; yes revokes.
	for _, answer := range []string{"n\n", "y\n"} {
		io, _, _ = TestIO()
		io.In, io.InTTY, io.ErrTTY = strings.NewReader(answer), true, true
		err = apiKeyRevokeRun(ctx, &APIKeyRevokeOptions{IO: io, Store: store, Now: now, Key: "dispatch"})
		_, authErr := maskcall.AuthenticateAPIKey(ctx, db, secret)
		if answer == "n\n" && (err == nil || authErr != nil) {
			t.Fatalf("answered no: err %v, key refused %v", err, authErr)
		}
		if answer == "y\n" && (err != nil || maskcall.ErrorCode(authErr) != maskcall.EUNAUTHORIZED) {
			t.Fatalf("answered yes: err %v, auth %v", err, authErr)
		}
	}
	err = apiKeyRevokeRun(ctx, &APIKeyRevokeOptions{IO: io, Store: store, Now: now, Key: "dispatch", Yes: true})
	if maskcall.ErrorCode(err) != maskcall.ENOTFOUND {
		t.Fatalf("revoking twice: %v", err)
	}
}
