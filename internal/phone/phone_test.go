package phone

import (
	"strings"
	"testing"

	"github.com/maskcall/maskcall/internal/maskcall"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, input, country string
		want                 Number
	}{
		{"international with spaces", "+44 7700 900123", "", Number{"+447700900123", "GB"}},
		{"Vonage MSISDN", "447700900123", "", Number{"+447700900123", "GB"}},
		{"national with country", "07700 900123", "GB", Number{"+447700900123", "GB"}},
		{"national with lower-case country", "07700 900123", "gb", Number{"+447700900123", "GB"}},
		{"00 international prefix", "0044 7700 900123", "", Number{"+447700900123", "GB"}},
		{"00 international prefix, country ignored", "0044 7700 900123", "US", Number{"+447700900123", "GB"}},
		{"00 prefix, no spaces", "00447700900123", "", Number{"+447700900123", "GB"}},
		{"00 prefix to NANP", "001 202 555 0123", "", Number{"+12025550123", "US"}},
		{"NANP punctuation", "+1 (202) 555-0123", "", Number{"+12025550123", "US"}},
		{"NANP national with US", "2025550123", "US", Number{"+12025550123", "US"}},
		{"London drama range", "+442079460321", "", Number{"+442079460321", "GB"}},
		{"international ignores default country", "+1 202 555 0123", "GB", Number{"+12025550123", "US"}},
		{"surrounding space", "  +447700900123\t", "", Number{"+447700900123", "GB"}},
		{"dots", "+44.7700.900.123", "", Number{"+447700900123", "GB"}},
		{"US IDD from the US", "011 44 7700 900123", "US", Number{"+447700900123", "GB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.input, tt.country)
			if err != nil {
				t.Fatalf("Parse(%q, %q): %v", tt.input, tt.country, err)
			}
			if got != tt.want {
				t.Fatalf("Parse(%q, %q) = %+v, want %+v", tt.input, tt.country, got, tt.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, input, country string
	}{
		{"empty", "", ""},
		{"blank", "   ", "GB"},
		{"letters", "abc", ""},
		{"letters with country", "abc", "GB"},
		{"too short", "12", ""},
		{"too short with country", "12", "GB"},
		{"70 characters", strings.Repeat("1234567 ", 9)[:70], ""},
		{"70 digits", strings.Repeat("4", 70), ""},
		{"too long for GB", "+44 7700 9001234567", ""},
		{"national form without country", "07700 900123", ""},
		{"national form with unknown country", "07700 900123", "XX"},
		// Full-width digits are rejected, not normalised.
		{"full-width digits", "+４４７７００９００１２３", ""},
		{"full-width plus", "＋447700900123", ""},
		{"Arabic-Indic digits", "+٤٤٧٧٠٠٩٠٠١٢٣", ""},
		{"SQL", "1; DROP TABLE numbers", ""},
		{"SQL quote", "+447700900123' OR '1'='1", ""},
		{"extension", "+447700900123 ext 5", ""},
		{"hash extension", "+447700900123#5", ""},
		{"newline inside", "+44770\n0900123", ""},
		{"NUL", "+44770\x000900123", ""},
		{"invalid UTF-8", "+44770\xff0900123", ""},
		{"plus only", "+", ""},
		{"00 only", "00", ""},
		{"country code zero", "+0044 7700 900123", ""},
		{"MSISDN not a number anywhere", "2025550123", ""}, // +20 (Egypt) is how it reads without a country
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.input, tt.country)
			if code := maskcall.ErrorCode(err); code != maskcall.EINVALIDNUMBER {
				t.Fatalf("Parse(%q, %q) = %+v, %v; want code %q, got %q", tt.input, tt.country, got, err, maskcall.EINVALIDNUMBER, code)
			}
			if got != (Number{}) {
				t.Fatalf("Parse(%q, %q) returned %+v with its error", tt.input, tt.country, got)
			}
			if msg := maskcall.ErrorMessage(err); msg == "" || msg == "Internal error." {
				t.Fatalf("Parse(%q, %q): message %q does not say what is wrong", tt.input, tt.country, msg)
			}
		})
	}
}

// The message for an over-long input quotes only its start.
func TestParseTooLongMessageIsShort(t *testing.T) {
	_, err := Parse(strings.Repeat("9", 1000), "")
	if maskcall.ErrorCode(err) != maskcall.EINVALIDNUMBER {
		t.Fatalf("err = %v, want EINVALIDNUMBER", err)
	}
	if msg := maskcall.ErrorMessage(err); len(msg) > 100 {
		t.Fatalf("message is %d bytes long: %q", len(msg), msg)
	}
}

// Number.Country is documented as an ISO alpha-2 region. Numbers of
// non-geographic calling codes (satellite phones: Iridium +8816, Inmarsat
// +870; international freephone +800) must not come back with
// libphonenumber's "001" pseudo-region, which later ends up in
// `numbers provision --country 001` hints and in Vonage searches.
func TestParseCountryIsAlpha2(t *testing.T) {
	for _, in := range []string{"+8816 3123 4567", "+870 772 123456", "+800 1234 5678"} {
		got, err := Parse(in, "")
		if err != nil {
			continue // rejecting them is also acceptable
		}
		if got.Country != "" && !KnownCountry(got.Country) {
			t.Errorf("Parse(%q) = %+v: Country is not an ISO alpha-2 region", in, got)
		}
	}
}

// E.164 numbers have at most 15 digits, and the Vonage adapter (and Vonage)
// refuse longer ones; libphonenumber's metadata for Germany allows more.
// Found by FuzzParse (testdata/fuzz/FuzzParse/a828cf3347513409).
func TestParseAtMost15Digits(t *testing.T) {
	for _, in := range []string{"+4921000000000000", "+49 2100 0000 0000 00"} {
		got, err := Parse(in, "")
		if err == nil && len(got.E164) > 16 {
			t.Errorf("Parse(%q) = %+v: %d digits, more than E.164 allows", in, got, len(got.E164)-1)
		} else if err != nil && maskcall.ErrorCode(err) != maskcall.EINVALIDNUMBER {
			t.Errorf("Parse(%q): %v", in, err)
		}
	}
}

func TestFromMSISDN(t *testing.T) {
	tests := []struct {
		in   string
		want Number
	}{
		{"447700900123", Number{"+447700900123", "GB"}},
		{"+447700900123", Number{"+447700900123", "GB"}},
		{" 447700900123 ", Number{"+447700900123", "GB"}},
		{"12025550123", Number{"+12025550123", "US"}},
	}
	for _, tt := range tests {
		got, err := FromMSISDN(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("FromMSISDN(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	// A national form is never guessed: Vonage always sends the country code.
	for _, in := range []string{"", "+", "07700900123", "0447700900123", "abc", "44 7700 900123 1234567"} {
		if got, err := FromMSISDN(in); maskcall.ErrorCode(err) != maskcall.EINVALIDNUMBER {
			t.Errorf("FromMSISDN(%q) = %+v, %v; want EINVALIDNUMBER", in, got, err)
		}
	}
}

func TestKnownCountry(t *testing.T) {
	tests := []struct {
		cc   string
		want bool
	}{
		{"GB", true},
		{"US", true},
		{"DE", true},
		{"XX", false},
		{"ZZ", false},  // libphonenumber's unknown region
		{"001", false}, // libphonenumber's non-geographic region
		{"UK", false},  // not ISO 3166-1
		{"", false},
		{"G", false},
		{"GBR", false},
		// Current behaviour: case-sensitive, unlike Parse's default country.
		{"gb", false},
		{"Gb", false},
	}
	for _, tt := range tests {
		if got := KnownCountry(tt.cc); got != tt.want {
			t.Errorf("KnownCountry(%q) = %v, want %v", tt.cc, got, tt.want)
		}
	}
}

func TestIsFictional(t *testing.T) {
	tests := []struct {
		e164 string
		want bool
	}{
		{"+447700900000", true},
		{"+447700900123", true},
		{"+447700900999", true},
		{"+447700901000", false}, // just past the range
		{"+447700899999", false}, // just before it
		{"+44770090012", false},  // too short
		{"+4477009001234", false},
		{"447700900123", false}, // E.164 needs the '+'
		{"+442079460321", false},
		{"+12025550123", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsFictional(tt.e164); got != tt.want {
			t.Errorf("IsFictional(%q) = %v, want %v", tt.e164, got, tt.want)
		}
	}
}

// Every number Parse accepts in the drama range is fictional, and the
// fictional range parses whatever libphonenumber thinks of it.
func TestParseAcceptsWholeFictionalRange(t *testing.T) {
	for _, in := range []string{"+447700900000", "+447700900500", "+447700900999", "07700 900999"} {
		got, err := Parse(in, "GB")
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if !IsFictional(got.E164) || got.Country != "GB" {
			t.Fatalf("Parse(%q) = %+v", in, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"+44 7700 900123", "447700900123", "07700 900123", "0044 7700 900123",
		"+1 (202) 555-0123", "2025550123", "+442079460321", "", "12", "+",
		"1; DROP TABLE numbers", "+４４７７００９００１２３", "00", "+0044",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		for _, country := range []string{"", "GB", "US", "gb", "XX"} {
			got, err := Parse(input, country)
			if err != nil {
				if code := maskcall.ErrorCode(err); code != maskcall.EINVALIDNUMBER {
					t.Fatalf("Parse(%q, %q): code %q, want %q (%v)", input, country, code, maskcall.EINVALIDNUMBER, err)
				}
				if got != (Number{}) {
					t.Fatalf("Parse(%q, %q) returned %+v with an error", input, country, got)
				}
				continue
			}
			e := got.E164
			// (E.164's 15-digit limit is checked by TestParseAtMost15Digits.)
			if len(e) < 2 || e[0] != '+' || strings.Trim(e[1:], "0123456789") != "" {
				t.Fatalf("Parse(%q, %q) = %+v: not E.164", input, country, got)
			}
			again, err := Parse(e, "")
			if err != nil {
				t.Fatalf("Parse(%q, %q) = %+v, but Parse(%q) fails: %v", input, country, got, e, err)
			}
			if again.E164 != e {
				t.Fatalf("Parse(%q, %q) = %+v, but Parse(%q) = %+v", input, country, got, e, again)
			}
		}
	})
}
