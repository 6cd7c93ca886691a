package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// WebhookIssuer is the iss claim of signed webhooks.
const WebhookIssuer = "Vonage"

// SignWebhook returns the JWT Vonage puts in "Authorization: Bearer <JWT>"
// of a signed webhook: HS256 with the signature secret, claims iat, jti, iss,
// api_key, application_id (when not empty) and payload_hash, the hex SHA-256
// of payload. The payload of a POST is its body; that of a GET is
// QueryPayload of its query parameters.
func SignWebhook(secret, apiKey, applicationID string, payload []byte, now time.Time) (string, error) {
	claims := jwt.MapClaims{
		"iat":          now.Unix(),
		"jti":          newUUID(),
		"iss":          WebhookIssuer,
		"api_key":      apiKey,
		"payload_hash": PayloadHash(payload),
	}
	if applicationID != "" {
		claims["application_id"] = applicationID
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}

// PayloadHash is the payload_hash claim for payload: its hex SHA-256.
func PayloadHash(payload []byte) string {
	sum := sha256.Sum256(payload)
	return hex.EncodeToString(sum[:])
}

// QueryPayload is what a signed GET webhook's payload_hash covers: the query
// parameters, in the order sent, as a JSON object without whitespace.
func QueryPayload(params [][2]string) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range params {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, p[0])
		b.WriteByte(':')
		writeJSONString(&b, p[1])
	}
	b.WriteByte('}')
	return b.Bytes()
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	b.Truncate(b.Len() - 1) // Encode adds a newline
}

// OrderedQuery splits a raw query string into its parameters, in order, so
// that a receiver can rebuild QueryPayload.
func OrderedQuery(rawQuery string) ([][2]string, error) {
	var params [][2]string
	for part := range strings.SplitSeq(rawQuery, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, err
		}
		params = append(params, [2]string{key, val})
	}
	return params, nil
}

// encodeQuery is the inverse of OrderedQuery.
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
	payload []byte // the JSON body sent, or QueryPayload for GET
	signed  bool
}

// send delivers h: for GET the params go in the query string, for POST in a
// JSON body. It signs the request when a signature secret is configured.
func (s *Sandbox) send(ctx context.Context, h webhook) (webhookReply, error) {
	var (
		reply webhookReply
		body  io.Reader
		u     = h.url
	)
	if h.method == http.MethodGet {
		// The payload covers every query parameter, those already in
		// the URL first.
		base, rawQuery, _ := strings.Cut(u, "?")
		params, err := OrderedQuery(rawQuery)
		if err != nil {
			return reply, err
		}
		params = append(params, h.params...)
		u = base + "?" + encodeQuery(params)
		reply.payload = QueryPayload(params)
	} else {
		reply.payload = QueryPayload(h.params)
		body = bytes.NewReader(reply.payload)
	}
	req, err := http.NewRequestWithContext(ctx, h.method, u, body)
	if err != nil {
		return reply, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "Vonage-Sandbox/1.0")
	if secret := s.cfg.SignatureSecret; secret != "" {
		token, err := SignWebhook(secret, s.cfg.APIKey, h.appID, reply.payload, s.now())
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
