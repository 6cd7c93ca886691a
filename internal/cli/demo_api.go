package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/maskcall/maskcall/internal/api"
	"github.com/maskcall/maskcall/internal/httpserver"
	"github.com/maskcall/maskcall/internal/maskcall"
)

// demoAPI mounts the /v1 API on the demo's webhook server and makes a key,
// so the demo can end its conversation as a platform's backend would.
func demoAPI(store api.Store, svc *maskcall.ConversationService, web *httpserver.Server) (string, error) {
	h, err := api.New(api.Config{Service: svc, Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return "", err
	}
	web.Handle("/v1/", h)
	secret, k, err := maskcall.NewAPIKey("demo", false, time.Now())
	if err != nil {
		return "", err
	}
	return secret, store.CreateAPIKey(context.Background(), k)
}

// demoAPIEnd ends conversation id with POST /v1/conversations/{id}/end
// and prints the request and the answer's status.
func demoAPIEnd(ctx context.Context, out io.Writer, base, key, id string) error {
	url := base + "/v1/conversations/" + id + "/end"
	fmt.Fprintf(out, "  POST %s  (Authorization: Bearer %s…)\n", strings.TrimPrefix(url, base), key[:maskcall.APIKeyShownChars])
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{"hangup":false}`))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var c maskcall.Conversation
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || resp.StatusCode != http.StatusOK {
		return maskcall.Errorf(maskcall.EINTERNAL, "The demo's API end answered %d (%v); this is a bug.", resp.StatusCode, err)
	}
	fmt.Fprintf(out, "  %d OK: status %s (%s)\n", resp.StatusCode, c.Status, c.EndReason)
	return nil
}
