package phone

import (
	"strings"
	"testing"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// A doubled or misplaced '+' is a typo, not a number.
func TestParse_PlusOnlyOnceFirst(t *testing.T) {
	for _, in := range []string{"++447700900123", "+ +44 7700 900123", "44+7700900123", "+447700900123+"} {
		_, err := Parse(in, "GB")
		if maskcall.ErrorCode(err) != maskcall.EINVALIDNUMBER || !strings.Contains(maskcall.ErrorMessage(err), "'+' may only come once, first") {
			t.Errorf("Parse(%q) = %v, want invalid_number about '+'", in, err)
		}
	}
	if n, err := Parse("+44 7700 900123", ""); err != nil || n.E164 != "+447700900123" {
		t.Fatalf("Parse(+44 7700 900123) = %+v, %v", n, err)
	}
}
