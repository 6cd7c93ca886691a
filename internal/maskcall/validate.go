package maskcall

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on what people type into conversations.
const (
	// MaxLabelLength is the most characters a participant's label may have:
	// it goes into every text message and table row.
	MaxLabelLength = 64
	// MaxRefLength is the most characters a conversation's reference may
	// have.
	MaxRefLength = 200
	// MinTTL is the shortest time to live a conversation may have: anything
	// shorter would be over before a participant could call.
	MinTTL = time.Minute
)

// NormalizeLabel trims a participant's label and checks it: "" is no
// label; one that is blank, longer than MaxLabelLength or holds control
// characters (newlines, tabs, terminal escapes) is EINVALID with reason
// "label" and field "which" set to which ("A", "B").
func NormalizeLabel(label, which string) (string, error) {
	t := strings.TrimSpace(label)
	switch {
	case label != "" && t == "":
		return "", labelError(which, "Label %s is blank; give a name such as driver, or none.", which)
	case utf8.RuneCountInString(t) > MaxLabelLength:
		return "", labelError(which, "Label %s has %d characters; at most %d are allowed.", which, utf8.RuneCountInString(t), MaxLabelLength)
	}
	if r, bad := controlChar(t); bad {
		return "", labelError(which, "Label %s contains the control character %U; labels are plain text on one line.", which, r)
	}
	return t, nil
}

func labelError(which, format string, args ...any) error {
	return Errorf(EINVALID, format, args...).WithReason("label", "which", which)
}

// CheckRef checks a conversation's reference: at most MaxRefLength
// characters and no control characters. EINVALID with reason "ref".
func CheckRef(ref string) error {
	if n := utf8.RuneCountInString(ref); n > MaxRefLength {
		return Errorf(EINVALID, "The reference has %d characters; at most %d are allowed.", n, MaxRefLength).WithReason("ref")
	}
	if r, bad := controlChar(ref); bad {
		return Errorf(EINVALID, "The reference contains the control character %U; references are plain text on one line.", r).WithReason("ref")
	}
	return nil
}

// CheckTTL checks a conversation's time to live: 0 (never expires) or at
// least MinTTL. EINVALID with reason "ttl".
func CheckTTL(ttl time.Duration) error {
	if ttl < 0 {
		return Errorf(EINVALID, "A conversation's time to live must be positive, got %s.", ttl).WithReason("ttl")
	}
	if ttl > 0 && ttl < MinTTL {
		return Errorf(EINVALID, "A conversation's time to live must be at least a minute, got %s.", ttl).WithReason("ttl")
	}
	return nil
}

// controlChar finds a character that would disturb a terminal, a table or a
// text message: C0/C1 controls (newline, tab, ESC) and the bidirectional
// overrides that make text display in another order than it is stored.
func controlChar(s string) (rune, bool) {
	for _, r := range s {
		if unicode.IsControl(r) || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == utf8.RuneError {
			return r, true
		}
	}
	return 0, false
}

// SMSPlaceholders are the names an SMS template may use in braces.
var SMSPlaceholders = []string{"label", "ref"}

// CheckSMSTemplate checks an SMS template: braces balanced and only
// {label} and {ref} inside them. ECONFIG with reason "sms_template".
func CheckSMSTemplate(tmpl string) error {
	bad := func(format string, args ...any) error {
		return (&Error{Code: ECONFIG, Message: "The SMS template " + fmt.Sprintf(format, args...)}).WithReason("sms_template")
	}
	for i := 0; i < len(tmpl); i++ {
		switch tmpl[i] {
		case '}':
			return bad("has a '}' without its '{' at character %d.", i+1)
		case '{':
			end := strings.IndexAny(tmpl[i+1:], "{}")
			if end < 0 || tmpl[i+1+end] != '}' {
				return bad("has a '{' without its '}' at character %d.", i+1)
			}
			name := tmpl[i+1 : i+1+end]
			known := false
			for _, p := range SMSPlaceholders {
				known = known || name == p
			}
			if !known {
				return bad("has the unknown placeholder {%s}; only {label} and {ref} are filled in.", name)
			}
			i += end + 1
		}
	}
	return nil
}
