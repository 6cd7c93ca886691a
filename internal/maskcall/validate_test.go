package maskcall

import (
	"strings"
	"testing"
	"time"
)

func TestNormalizeLabel(t *testing.T) {
	tests := []struct {
		in, want string
		bad      string // part of the message when refused
	}{
		{in: "", want: ""},
		{in: "driver", want: "driver"},
		{in: "  rider \u00a0", want: "rider"},
		{in: strings.Repeat("ß", 64), want: strings.Repeat("ß", 64)},
		{in: strings.Repeat("ß", 65), bad: "has 65 characters; at most 64"},
		{in: "   ", bad: "is blank"},
		{in: "a\nb", bad: "U+000A"},
		{in: "a\tb", bad: "U+0009"},
		{in: "\x1b[31mred", bad: "U+001B"},
		{in: "a\u0085b", bad: "U+0085"}, // C1 next line
		{in: "abc\u202edcba", bad: "U+202E"},
		{in: "bad\xffutf8", bad: "U+FFFD"},
	}
	for _, tt := range tests {
		got, err := NormalizeLabel(tt.in, "A")
		if tt.bad == "" {
			if err != nil || got != tt.want {
				t.Errorf("NormalizeLabel(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		if ErrorCode(err) != EINVALID || ErrorReason(err) != "label" || !strings.Contains(ErrorMessage(err), tt.bad) {
			t.Errorf("NormalizeLabel(%q) = %q, %v; want EINVALID saying %q", tt.in, got, err, tt.bad)
		}
		var e *Error
		if asError(err, &e); e.Fields["which"] != "A" {
			t.Errorf("fields %v do not say which label", e.Fields)
		}
	}
}

func asError(err error, e **Error) bool {
	if x, ok := err.(*Error); ok {
		*e = x
		return true
	}
	return false
}

func TestCheckRef(t *testing.T) {
	for _, ok := range []string{"", "ride-8812", "Bestellung Nr. 5 · ü", strings.Repeat("r", MaxRefLength)} {
		if err := CheckRef(ok); err != nil {
			t.Errorf("CheckRef(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"a\nb", "\x1b]0;title\x07", "x\ty", strings.Repeat("r", MaxRefLength+1)} {
		if err := CheckRef(bad); ErrorCode(err) != EINVALID || ErrorReason(err) != "ref" {
			t.Errorf("CheckRef(%q) = %v, want EINVALID", bad, err)
		}
	}
}

func TestCheckTTL(t *testing.T) {
	for _, ok := range []time.Duration{0, time.Minute, 2 * time.Hour, 30 * 24 * time.Hour} {
		if err := CheckTTL(ok); err != nil {
			t.Errorf("CheckTTL(%s) = %v", ok, err)
		}
	}
	for _, bad := range []time.Duration{-time.Second, time.Nanosecond, 59 * time.Second} {
		if err := CheckTTL(bad); ErrorCode(err) != EINVALID || ErrorReason(err) != "ttl" {
			t.Errorf("CheckTTL(%s) = %v, want EINVALID", bad, err)
		}
	}
}

func TestCheckSMSTemplate(t *testing.T) {
	for _, ok := range []string{DefaultSMSTemplate, "Ride {ref}: call {label}.", "No placeholders.", "{label}{ref}", "Line one\nline two {label}"} {
		if err := CheckSMSTemplate(ok); err != nil {
			t.Errorf("CheckSMSTemplate(%q) = %v", ok, err)
		}
	}
	for tmpl, want := range map[string]string{
		"Call {name}.":    "unknown placeholder {name}",
		"Call {Label}.":   "unknown placeholder {Label}",
		"Call {label.":    "'{' without its '}' at character 6",
		"Call label}.":    "'}' without its '{' at character 11",
		"Call {{label}}.": "'{' without its '}' at character 6",
		"Call {}.":        "unknown placeholder {}",
		"{label":          "'{' without",
	} {
		err := CheckSMSTemplate(tmpl)
		if ErrorCode(err) != ECONFIG || ErrorReason(err) != "sms_template" || !strings.Contains(ErrorMessage(err), want) {
			t.Errorf("CheckSMSTemplate(%q) = %v, want %q", tmpl, err, want)
		}
	}
}
