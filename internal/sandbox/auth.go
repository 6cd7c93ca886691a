package sandbox

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// validKeySecret reports whether key and secret are the configured
// api_key / api_secret pair.
func (s *Sandbox) validKeySecret(key, secret string) bool {
	okKey := subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.APIKey)) == 1
	okSecret := subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.APISecret)) == 1
	return okKey && okSecret
}

// basicCreds reads HTTP Basic credentials (Authorization: Basic
// base64(api_key:api_secret)), which the official SDKs send to the Numbers,
// SMS and Number Insight APIs; Vonage accepts them there as well as the
// api_key and api_secret parameters. present reports a Basic header; ok
// that it holds the configured pair.
func (s *Sandbox) basicCreds(r *http.Request) (present, ok bool) {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Basic") {
		return false, false
	}
	key, secret, parsed := r.BasicAuth()
	return true, parsed && s.validKeySecret(key, secret)
}

// basicUnauthorized is Vonage's reply to wrong Basic credentials: HTTP 401
// with the common error shape, whichever API was asked.
func basicUnauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="Vonage"`)
	writeProblem(w, http.StatusUnauthorized, problemType(http.StatusUnauthorized),
		"Invalid credentials supplied", "You did not provide correct credentials.")
}

// verifyBearer checks the Voice API bearer token of r and returns its
// application_id claim.
func (s *Sandbox) verifyBearer(r *http.Request) (string, error) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", errors.New("no bearer token")
	}
	claims := jwt.MapClaims{}
	opts := []jwt.ParserOption{jwt.WithTimeFunc(s.now), jwt.WithLeeway(30 * time.Second)}
	if key := s.cfg.ApplicationPublicKey; key != nil {
		_, err := jwt.NewParser(append(opts, jwt.WithValidMethods([]string{"RS256"}))...).
			ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return key, nil })
		if err != nil {
			return "", err
		}
	} else {
		if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
			return "", err
		}
		if err := jwt.NewValidator(opts...).Validate(claims); err != nil {
			return "", err
		}
	}
	appID, _ := claims["application_id"].(string)
	if appID == "" {
		return "", errors.New("token has no application_id claim")
	}
	if want := s.cfg.ApplicationID; want != "" && appID != want {
		return "", fmt.Errorf("token is for application %s", appID)
	}
	return appID, nil
}
