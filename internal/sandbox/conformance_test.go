package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"go.yaml.in/yaml/v3"
)

// The conformance tests hold the sandbox against the official API
// definitions, found in a directory shared/vonage-spec next to the
// repository (or higher up). They are skipped when it is absent.

// specDir finds shared/vonage-spec walking up from the working directory.
func specDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		cand := filepath.Join(dir, "shared", "vonage-spec")
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("Vonage API definitions (shared/vonage-spec) not found; skipping conformance test")
		}
		dir = parent
	}
}

// apiSpec is one OpenAPI document.
type apiSpec struct {
	file string
	base string // path of the server URL, such as "/sms"
	doc  map[string]any
}

func loadSpecs(t *testing.T) []apiSpec {
	t.Helper()
	dir := specDir(t)
	var specs []apiSpec
	for _, file := range []string{"numbers.yml", "number-insight.yml", "sms.yml", "voice.yml"} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		server := at(doc, "servers").([]any)[0].(map[string]any)["url"].(string)
		u, err := url.Parse(server)
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, apiSpec{file, strings.TrimSuffix(u.Path, "/"), doc})
	}
	return specs
}

// at walks doc along keys; nil when something is missing.
func at(doc any, keys ...string) any {
	for _, k := range keys {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil
		}
		doc = m[k]
	}
	return doc
}

// resolve follows a local $ref.
func (s apiSpec) resolve(schema any) map[string]any {
	m, _ := schema.(map[string]any)
	for m != nil {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		keys := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
		m, _ = at(s.doc, keys...).(map[string]any)
	}
	return nil
}

// properties collects the properties a schema allows, through allOf.
func (s apiSpec) properties(schema any) map[string]any {
	props := map[string]any{}
	m := s.resolve(schema)
	if p, ok := m["properties"].(map[string]any); ok {
		for k, v := range p {
			props[k] = v
		}
	}
	subs, _ := m["allOf"].([]any)
	for _, sub := range subs {
		for k, v := range s.properties(sub) {
			props[k] = v
		}
	}
	return props
}

// operation finds the spec operation serving method and path (a sandbox
// path, whose {name} segments stand for any value).
func operation(specs []apiSpec, method, path string) (apiSpec, string, map[string]any) {
	concrete := regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "x")
	for _, s := range specs {
		paths, _ := s.doc["paths"].(map[string]any)
		for tmpl, item := range paths {
			full := s.base + tmpl
			if tmpl == "/" {
				full = s.base
			}
			re := "^" + regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(regexp.QuoteMeta(full), `[^/]+`) + "$"
			if !regexp.MustCompile(re).MatchString(concrete) {
				continue
			}
			if op, ok := at(item, strings.ToLower(method)).(map[string]any); ok {
				return s, tmpl, op
			}
		}
	}
	return apiSpec{}, "", nil
}

// readmeRoutes are API routes with no OpenAPI file in vonage-spec: its
// README.md states their facts (Identity Insights postdates the 2021
// snapshot). identity_test.go checks the shapes the README gives.
var readmeRoutes = map[string]bool{"POST " + IdentityInsightsPath: true}

func TestConformanceRoutes(t *testing.T) {
	specs := loadSpecs(t)
	sb := New(Config{})
	if len(sb.apiRoutes) == 0 {
		t.Fatal("no API routes")
	}
	readme, err := os.ReadFile(filepath.Join(specDir(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.Join(strings.Fields(string(readme)), " ")
	for _, route := range sb.apiRoutes {
		method, path, _ := strings.Cut(route, " ")
		if _, ok := readmeRoutes[route]; ok {
			// The README names the method and the URL.
			if !strings.Contains(flat, "`"+method+" https://api-eu.vonage.com"+path+"`") {
				t.Errorf("%s is not stated in vonage-spec/README.md", route)
			}
			continue
		}
		if _, _, op := operation(specs, method, path); op == nil {
			t.Errorf("%s is not in the API definitions", route)
		}
	}
}

// parameters lists where an operation takes each parameter: "query", "path"
// or "form" (form-encoded body); the apiKey security schemes count.
func (s apiSpec) parameters(tmpl string, op map[string]any) map[string]string {
	out := map[string]string{}
	var params []any
	if p, ok := at(s.doc, "paths", tmpl, "parameters").([]any); ok {
		params = append(params, p...)
	}
	if p, ok := op["parameters"].([]any); ok {
		params = append(params, p...)
	}
	for _, p := range params {
		m := s.resolve(p)
		out[m["name"].(string)] = m["in"].(string)
	}
	if body := at(op, "requestBody", "content", "application/x-www-form-urlencoded", "schema"); body != nil {
		for name := range s.properties(body) {
			out[name] = "form"
		}
	}
	security, _ := s.doc["security"].([]any)
	for _, req := range security {
		for scheme := range req.(map[string]any) {
			if m, ok := at(s.doc, "components", "securitySchemes", scheme).(map[string]any); ok && m["type"] == "apiKey" {
				out[m["name"].(string)] = m["in"].(string)
			}
		}
	}
	return out
}

func TestConformanceParameters(t *testing.T) {
	specs := loadSpecs(t)
	// The parameters each handler reads, and where it reads them from.
	read := map[string]map[string]string{
		"GET /number/search": {
			"api_key": "query", "api_secret": "query", "country": "query", "type": "query", "pattern": "query",
			"search_pattern": "query", "features": "query", "size": "query", "index": "query",
		},
		"GET /account/numbers": {
			"api_key": "query", "api_secret": "query", "application_id": "query", "has_application": "query",
			"country": "query", "pattern": "query", "search_pattern": "query", "size": "query", "index": "query",
		},
		"POST /number/buy":    {"api_key": "query", "api_secret": "query", "country": "form", "msisdn": "form", "target_api_key": "form"},
		"POST /number/cancel": {"api_key": "query", "api_secret": "query", "country": "form", "msisdn": "form"},
		"POST /number/update": {
			"api_key": "query", "api_secret": "query", "country": "form", "msisdn": "form", "app_id": "form",
			"moHttpUrl": "form", "moSmppSysType": "form", "voiceCallbackType": "form", "voiceCallbackValue": "form",
			"voiceStatusCallback": "form", "messagesCallbackType": "form", "messagesCallbackValue": "form",
		},
		"GET /ni/basic/json": {"api_key": "query", "api_secret": "query", "number": "query", "country": "query"},
		"POST /sms/json": {
			"api_key": "form", "api_secret": "form", "sig": "form", "from": "form", "to": "form", "text": "form",
			"type": "form", "client-ref": "form", "account-ref": "form", "callback": "form",
		},
		"GET /v1/calls/{uuid}": {"uuid": "path"},
		"PUT /v1/calls/{uuid}": {"uuid": "path"},
	}
	for _, route := range New(Config{}).apiRoutes {
		method, path, _ := strings.Cut(route, " ")
		s, tmpl, op := operation(specs, method, path)
		if op == nil {
			continue // reported by TestConformanceRoutes, or a README route
		}
		want, ok := read[route]
		if !ok {
			t.Errorf("%s: parameters not described in this test", route)
			continue
		}
		spec := s.parameters(tmpl, op)
		for name, in := range want {
			if spec[name] != in {
				t.Errorf("%s: the sandbox reads %s from the %s; the spec has it in %q", route, name, in, spec[name])
			}
		}
	}
}

// fieldErrors lists how value strays from schema: fields the schema does
// not describe and JSON types other than the schema's. A value matching one
// alternative of a oneOf or anyOf matches.
func (s apiSpec) fieldErrors(where string, schema any, value any) []string {
	m := s.resolve(schema)
	if m == nil {
		return nil
	}
	for _, comb := range []string{"oneOf", "anyOf"} {
		alts, _ := m[comb].([]any)
		if len(alts) == 0 {
			continue
		}
		var first []string
		for i, alt := range alts {
			errs := s.fieldErrors(where, alt, value)
			if len(errs) == 0 {
				return nil
			}
			if i == 0 {
				first = errs
			}
		}
		return append([]string{where + ": matches no " + comb + " alternative; the first says:"}, first...)
	}
	var errs []string
	if typ, ok := m["type"].(string); ok && value != nil {
		okType := map[string]bool{
			"string":  isKind[string](value),
			"integer": isKind[float64](value) && value.(float64) == float64(int64(value.(float64))),
			"number":  isKind[float64](value),
			"boolean": isKind[bool](value),
			"array":   isKind[[]any](value),
			"object":  isKind[map[string]any](value),
		}[typ]
		if !okType {
			errs = append(errs, fmt.Sprintf("%s: %v is not of type %s", where, value, typ))
		}
	}
	switch v := value.(type) {
	case map[string]any:
		props := s.properties(m)
		if len(props) == 0 {
			return errs
		}
		for k, sub := range v {
			p, ok := props[k]
			if !ok {
				errs = append(errs, fmt.Sprintf("%s: field %q is not in the spec (spec has %s)", where, k, keys(props)))
				continue
			}
			errs = append(errs, s.fieldErrors(where+"."+k, p, sub)...)
		}
	case []any:
		for i, item := range v {
			errs = append(errs, s.fieldErrors(fmt.Sprintf("%s[%d]", where, i), m["items"], item)...)
		}
	}
	return errs
}

func isKind[T any](v any) bool { _, ok := v.(T); return ok }

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

func TestConformanceReplies(t *testing.T) {
	specs := loadSpecs(t)
	sb, base := callSandbox(t, "")
	answer := newRecorder(t, replyNCCO(connectNCCO))
	call, err := sb.SimulateCall(context.Background(), CallRequest{From: callerNumber, To: virtualNumber, AnswerURL: answer.URL, KeepOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	token := "Bearer " + appToken(t, jwt.SigningMethodHS256, []byte("k"), nil)
	bad := url.Values{"api_key": {testKey}, "api_secret": {"wrong"}}

	type exchange struct {
		route string
		do    func() response
	}
	exchanges := []exchange{
		{"GET /number/search", func() response { return get(t, base, "/number/search", creds("country", "GB")) }},
		{"GET /number/search", func() response { return get(t, base, "/number/search", bad) }},
		{"POST /number/buy", func() response { return postForm(t, base, "/number/buy", creds(buyForm("447700900050")...)) }},
		{"POST /number/buy", func() response { return postForm(t, base, "/number/buy", creds(buyForm("447700900050")...)) }}, // 420
		{"POST /number/buy", func() response { return postForm(t, base, "/number/buy", bad) }},
		{"POST /number/update", func() response {
			return postForm(t, base, "/number/update", creds("country", "GB", "msisdn", "447700900050", "app_id", testAppID, "moHttpUrl", "https://example.com/sms"))
		}},
		{"POST /number/update", func() response { return postForm(t, base, "/number/update", bad) }},
		{"GET /account/numbers", func() response { return get(t, base, "/account/numbers", creds()) }},
		{"GET /account/numbers", func() response { return get(t, base, "/account/numbers", bad) }},
		{"POST /number/cancel", func() response { return postForm(t, base, "/number/cancel", creds(buyForm("447700900050")...)) }},
		{"POST /number/cancel", func() response { return postForm(t, base, "/number/cancel", bad) }},
		{"GET /ni/basic/json", func() response { return get(t, base, "/ni/basic/json", creds("number", "447700900123")) }},
		{"GET /ni/basic/json", func() response { return get(t, base, "/ni/basic/json", creds("number", "xyz")) }},
		{"POST /sms/json", func() response {
			return postForm(t, base, "/sms/json", creds("from", "Acme", "to", "447700900123", "text", "hi", "client-ref", "r1"))
		}},
		{"POST /sms/json", func() response { return postForm(t, base, "/sms/json", creds("from", "Acme")) }},
		{"GET /v1/calls/{uuid}", func() response {
			return sendJSON(t, http.MethodGet, base+"/v1/calls/"+call.UUID, nil, "Authorization", token)
		}},
		{"GET /v1/calls/{uuid}", func() response {
			return sendJSON(t, http.MethodGet, base+"/v1/calls/"+call.OutboundUUID, nil, "Authorization", token)
		}},
		{"PUT /v1/calls/{uuid}", func() response {
			return sendJSON(t, http.MethodPut, base+"/v1/calls/"+call.UUID, map[string]string{"action": "hangup"}, "Authorization", token)
		}},
		{"GET /v1/calls/{uuid}", func() response {
			return sendJSON(t, http.MethodGet, base+"/v1/calls/"+call.UUID, nil, "Authorization", token)
		}},
		{"GET /v1/calls/{uuid}", func() response {
			return sendJSON(t, http.MethodGet, base+"/v1/calls/"+call.OutboundUUID, nil, "Authorization", token)
		}},
	}
	for _, ex := range exchanges {
		method, path, _ := strings.Cut(ex.route, " ")
		s, _, op := operation(specs, method, path)
		if op == nil {
			t.Errorf("%s not in the spec", ex.route)
			continue
		}
		r := ex.do()
		where := fmt.Sprintf("%s → %d", ex.route, r.status)
		resp, ok := at(op, "responses", fmt.Sprint(r.status)).(map[string]any)
		if !ok {
			t.Errorf("%s: the spec defines no such reply", where)
			continue
		}
		schema := at(resp, "content", "application/json", "schema")
		if schema == nil {
			if len(r.body) != 0 {
				t.Errorf("%s: the spec defines no body, got %s", where, r.body)
			}
			continue
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type %q", where, ct)
		}
		var v any
		if err := json.Unmarshal(r.body, &v); err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		for _, e := range s.fieldErrors(where, schema, v) {
			t.Error(e)
		}
	}
}
