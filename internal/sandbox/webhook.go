package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/maskcall/maskcall/internal/vonage/signature"
)

// jsonObject is params, in order, as one compact JSON object of strings:
// the body of a POST webhook, and what the payload_hash of a GET with
// those parameters covers. It is signature.QueryPayload of the query
// encodeQuery makes, so both are written alike.
func jsonObject(params [][2]string) ([]byte, error) {
	return signature.QueryPayload(encodeQuery(params))
}

// encodeQuery is params as a raw URL query, in order.
func encodeQuery(params [][2]string) string {
	parts := make([]string, len(params))
	for i, p := range params {
		parts[i] = url.QueryEscape(p[0]) + "=" + url.QueryEscape(p[1])
	}
	return strings.Join(parts, "&")
}

// webhook is a request the sandbox sends to an application.
type webhook struct {
	method string
	url    string
	params [][2]string // payload: JSON object fields in this order
	appID  string
}

// webhookReply is what came back.
type webhookReply struct {
	status  int
	body    []byte
	payload []byte // the JSON body sent, or signature.QueryPayload of a GET's query
	signed  bool
}

// send delivers h: for GET the params go in the query string, for POST in a
// JSON body. It signs the request (signature.Sign) when a signature secret
// is configured.
func (s *Sandbox) send(ctx context.Context, h webhook) (webhookReply, error) {
	var (
		reply webhookReply
		body  io.Reader
		u     = h.url
	)
	if h.method == http.MethodGet {
		// The URL's own query parameters come first, as they are.
		parsed, err := url.Parse(u)
		if err != nil {
			return reply, err
		}
		q := encodeQuery(h.params)
		if parsed.RawQuery != "" && q != "" {
			q = "&" + q
		}
		parsed.RawQuery += q
		u = parsed.String()
	} else {
		var err error
		if reply.payload, err = jsonObject(h.params); err != nil {
			return reply, err
		}
		body = bytes.NewReader(reply.payload)
	}
	req, err := http.NewRequestWithContext(ctx, h.method, u, body)
	if err != nil {
		return reply, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	} else {
		// The payload of the very query sent, as the receiver rebuilds
		// it: signer and verifier agree by construction.
		if reply.payload, err = signature.QueryPayload(req.URL.RawQuery); err != nil {
			return reply, err
		}
	}
	req.Header.Set("User-Agent", "Vonage-Sandbox/1.0")
	if secret := s.cfg.SignatureSecret; secret != "" {
		token, err := signature.Sign(secret, signature.Claims{APIKey: s.cfg.APIKey, ApplicationID: h.appID}, reply.payload, s.now())
		if err != nil {
			return reply, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		reply.signed = true
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return reply, err
	}
	defer resp.Body.Close()
	reply.status = resp.StatusCode
	reply.body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody))
	return reply, err
}

// newUUID returns a random (version 4) UUID in RFC 4122 text form.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
