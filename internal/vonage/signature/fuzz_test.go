package signature

// FuzzQueryPayload's seed corpus lives in testdata/fuzz/FuzzQueryPayload/
// and runs as unit tests under plain `go test`; fuzz it with
//
//	go test -run='^$' -fuzz='^FuzzQueryPayload$' -fuzztime=30s ./internal/vonage/signature/

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"
)

// FuzzQueryPayload checks QueryPayload against net/url: it never panics,
// and when it succeeds its result is one compact JSON object of strings
// holding, in order, one member per non-empty parameter, each equal to
// what url.ParseQuery reads from that parameter.
func FuzzQueryPayload(f *testing.F) {
	f.Fuzz(func(t *testing.T, rawQuery string) {
		p, err := QueryPayload(rawQuery)
		if err != nil {
			if p != nil {
				t.Fatalf("QueryPayload(%q) returned %q with error %v", rawQuery, p, err)
			}
			return
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, p); err != nil {
			t.Fatalf("QueryPayload(%q) = %q, not JSON: %v", rawQuery, p, err)
		}
		if !bytes.Equal(compact.Bytes(), p) {
			t.Fatalf("QueryPayload(%q) = %q, not compact", rawQuery, p)
		}
		members := decodeMembers(t, p)

		var parts []string
		for _, part := range strings.Split(rawQuery, "&") {
			if part != "" {
				parts = append(parts, part)
			}
		}
		if len(members) != len(parts) {
			t.Fatalf("QueryPayload(%q) = %s: %d members for %d parameters", rawQuery, p, len(members), len(parts))
		}
		for i, part := range parts {
			v, perr := url.ParseQuery(part)
			if perr != nil {
				// url.ParseQuery refuses ';' in a parameter; QueryPayload
				// keeps it as a character, unescaped like the rest.
				if !strings.Contains(part, ";") {
					t.Fatalf("QueryPayload(%q) accepted %q, which url.ParseQuery refuses: %v", rawQuery, part, perr)
				}
				k, val, _ := strings.Cut(part, "=")
				k, _ = url.QueryUnescape(k)
				val, _ = url.QueryUnescape(val)
				v = url.Values{k: {val}}
			}
			if len(v) != 1 {
				t.Fatalf("url.ParseQuery(%q) = %v", part, v)
			}
			for k, vals := range v {
				if members[i] != [2]string{k, vals[0]} {
					t.Fatalf("QueryPayload(%q) member %d = %q, want %q: %q", rawQuery, i, members[i], k, vals[0])
				}
			}
		}
		// The whole: with no semicolons, url.ParseQuery groups the same
		// members by key.
		if all, perr := url.ParseQuery(rawQuery); perr == nil {
			got := url.Values{}
			for _, m := range members {
				got[m[0]] = append(got[m[0]], m[1])
			}
			if len(got) != len(all) {
				t.Fatalf("QueryPayload(%q) has keys %v, url.ParseQuery %v", rawQuery, got, all)
			}
			for k, vals := range all {
				if strings.Join(got[k], "\x00") != strings.Join(vals, "\x00") || len(got[k]) != len(vals) {
					t.Fatalf("QueryPayload(%q)[%q] = %q, url.ParseQuery %q", rawQuery, k, got[k], vals)
				}
			}
		}
	})
}

// decodeMembers reads a JSON object of strings as its members in order,
// duplicates kept.
func decodeMembers(t *testing.T, p []byte) [][2]string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(p))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		t.Fatalf("%s is not a JSON object: %v %v", p, tok, err)
	}
	var members [][2]string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		v, err := dec.Token()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		vs, ok := v.(string)
		if !ok {
			t.Fatalf("%s: value %v of %v is not a string", p, v, k)
		}
		members = append(members, [2]string{k.(string), vs})
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		t.Fatalf("%s: no closing brace: %v %v", p, tok, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatalf("%s: trailing data", p)
	}
	return members
}
