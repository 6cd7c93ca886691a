package vonage

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	sdkjwt "github.com/vonage/vonage-go-sdk/jwt"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// HangupCall ends the call uuid: PUT {APIURL}/v1/calls/{uuid} with the JSON
// body {"action":"hangup"} and Authorization: Bearer <JWT> (voice.yml's
// server is https://api.nexmo.com/v1/calls, path /{uuid}; bearerAuth). The
// JWT is made fresh for each call by the SDK's jwt package: RS256, signed
// with the application's private key, claims application_id, iat, jti and
// exp (15 minutes).
//
// Made directly with net/http: the SDK's VoiceClient.Hangup type-asserts
// every error to the generated client's error type, so it panics when no
// reply arrives; and a VoiceClient bakes in one JWT when it is created.
func (c *Client) HangupCall(ctx context.Context, uuid string) error {
	if strings.TrimSpace(uuid) == "" {
		return maskcall.Errorf(maskcall.EINVALID, "Hanging up needs a call uuid.")
	}
	token, err := c.appToken("Controlling calls")
	if err != nil {
		return err
	}
	o := op{what: "hang up call " + uuid, auth: authAppJWT, changes: true, unavailableHint: "The call may or may not have ended; try again."}
	// Hanging up twice is harmless, so the request is retried; a 404 after
	// an attempt whose outcome is unknown means that attempt ended the call.
	return c.retrying(ctx, o, c.apiURL, func(cl *call, earlierUnclear bool) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.apiURL+"/v1/calls/"+url.PathEscape(uuid), strings.NewReader(`{"action":"hangup"}`))
		if err != nil {
			return c.fail(maskcall.EINTERNAL, "Could not build the request to "+o.what+".", "", err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		ex, err := c.do(cl, o, req)
		if err != nil {
			return err
		}
		if ex.status >= 200 && ex.status < 300 {
			return nil // 204 No Content per the spec
		}
		// Errors come in the common shape (common/common_errors.yml): type,
		// title, detail, instance (the trace id apiError picks up).
		var r struct {
			Type   string `json:"type"`
			Title  string `json:"title"`
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(ex.body, &r)
		ae := c.apiError(ex, "", joinText(r.Title, r.Detail))
		if ex.status == http.StatusNotFound {
			if earlierUnclear {
				return nil
			}
			return c.fail(maskcall.ENOTFOUND, fmt.Sprintf("Vonage has no call %s (%s).", uuid, ae.details("")),
				"The call may have ended already.", ae)
		}
		return c.statusFailure(cl, o, ae, "")
	})
}

// appToken makes the application JWT the Voice and Identity Insights APIs
// need; purpose ("Controlling calls") starts the message when it cannot.
func (c *Client) appToken(purpose string) (string, error) {
	if c.appID == "" {
		return "", maskcall.Errorf(maskcall.ECONFIG, "%s needs the Vonage application id, and none is configured.", purpose).
			WithReason("application_id")
	}
	if len(c.privateKey) == 0 {
		return "", maskcall.Errorf(maskcall.ECONFIG, "%s needs the application's private key, and none is configured.", purpose).
			WithReason("private_key")
	}
	token, err := sdkjwt.NewGenerator(c.appID, c.privateKey).GenerateToken()
	if err != nil {
		// err says why the PEM is unusable; it holds no key material.
		e := maskcall.Errorf(maskcall.ECONFIG, "The application's private key is not a usable RSA private key: %v.", strings.TrimRight(err.Error(), "."))
		e.Err = err
		return "", e.WithReason("private_key")
	}
	return token, nil
}
