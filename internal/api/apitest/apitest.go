// Package apitest is a client for tests of the /v1 API that validates
// every response it receives against the OpenAPI document
// (internal/api/openapi.json) with kin-openapi, so the document cannot
// drift from the code: a response the document does not describe fails
// the test that got it. Only tests import it.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/maskcall/maskcall/internal/api"
)

var (
	loadOnce sync.Once
	router   routers.Router
	document *openapi3.T
	loadErr  error
)

// Document loads and validates the OpenAPI document.
func Document() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, err
	}
	return doc, nil
}

func load() (routers.Router, error) {
	loadOnce.Do(func() {
		doc, err := Document()
		if err != nil {
			loadErr = err
			return
		}
		document = doc
		router, loadErr = gorillamux.NewRouter(doc)
	})
	return router, loadErr
}

// Client calls the API at BaseURL with Key.
type Client struct {
	BaseURL string
	Key     string // "" sends no Authorization header
	HTTP    *http.Client
	tb      testing.TB
	router  routers.Router
	doc     *openapi3.T
}

// New returns a client; it fails tb if the document does not load.
func New(tb testing.TB, baseURL, key string) *Client {
	tb.Helper()
	r, err := load()
	if err != nil {
		tb.Fatalf("OpenAPI document: %v", err)
	}
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Key: key, HTTP: http.DefaultClient, tb: tb, router: r, doc: document}
}

// WithKey returns a copy of c using key.
func (c *Client) WithKey(key string) *Client {
	d := *c
	d.Key = key
	return &d
}

// Response is a validated response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test if it cannot.
func (r *Response) JSON(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("response body %s: %v", r.Body, err)
	}
}

// Problem decodes a problem document.
func (r *Response) Problem(tb testing.TB) Problem {
	tb.Helper()
	var p Problem
	r.JSON(tb, &p)
	return p
}

// Problem is an RFC 9457 problem document with maskcall's code.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// Do sends method path with body (nil for none; a string or []byte as it
// is; anything else as JSON) and header pairs, and validates the response
// against the document. A transport failure fails the test.
func (c *Client) Do(method, path string, body any, header ...string) *Response {
	c.tb.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			c.tb.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, c.BaseURL+path, bytes.NewReader(raw))
	if err != nil {
		c.tb.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		c.tb.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	if err := c.validate(req, raw, resp, got); err != nil {
		c.tb.Errorf("%s %s answered %d %s, which the OpenAPI document does not describe: %v", method, path, resp.StatusCode, got, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: got}
}

// validate checks a response against the document's operation for the
// request. A path the document does not have is an error too: every route
// the API serves is documented.
func (c *Client) validate(req *http.Request, reqBody []byte, resp *http.Response, body []byte) error {
	// The router matches on path alone; the document's server is "/".
	u, _ := url.Parse(req.URL.String())
	u.Scheme, u.Host = "", ""
	rr := req.Clone(context.Background())
	rr.URL = u
	rr.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := c.router.FindRoute(rr)
	if errors.Is(err, routers.ErrMethodNotAllowed) || errors.Is(err, routers.ErrPathNotFound) {
		// No operation to check against: the answer must be the
		// document's problem.
		if resp.StatusCode != http.StatusMethodNotAllowed && resp.StatusCode != http.StatusNotFound {
			return fmt.Errorf("%w, yet the status is not 404 or 405", err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			return fmt.Errorf("content type %q, want application/problem+json", ct)
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		return c.doc.Components.Schemas["Problem"].Value.VisitJSON(v)
	} else if err != nil {
		return err
	}
	in := &openapi3filter.RequestValidationInput{
		Request: rr, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	})
}
