package phone

import "testing"

func TestCanonical(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"447700900123", "+447700900123", true},
		{"+447700900123", "+447700900123", true},
		{"12025550123", "+12025550123", true},
		{"1234567", "+1234567", true},
		{"123456789012345", "+123456789012345", true},
		{"123456", "", false},           // too short
		{"1234567890123456", "", false}, // too long
		{"", "", false},
		{"+", "", false},
		{"++447700900123", "", false},
		{"0447700900123", "", false}, // no country code starts with 0
		{" 447700900123", "", false},
		{"44 7700 900123", "", false},
		{"４４７７００９００１２３", "", false},
		{"44770090012a", "", false},
		{"Unknown", "", false},
		{"sip:alice@example.com", "", false},
	} {
		got, ok := Canonical(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Canonical(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// Canonical agrees with FromMSISDN on every number FromMSISDN accepts in
// Vonage's form.
func TestCanonicalAgreesWithFromMSISDN(t *testing.T) {
	for _, in := range []string{"447700900123", "12025550123", "442079460321", "33612345678",
		"4915123456789", "61412345678", "81312345678", "8613800138000", "447700900000"} {
		n, err := FromMSISDN(in)
		if err != nil {
			t.Fatalf("FromMSISDN(%q): %v", in, err)
		}
		if got, ok := Canonical(in); !ok || got != n.E164 {
			t.Errorf("Canonical(%q) = %q, %v; FromMSISDN gives %q", in, got, ok, n.E164)
		}
	}
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"447700900123", "+12025550123", "", "+", "0", "1234567890123456"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := Canonical(in)
		if !ok {
			if got != "" {
				t.Fatalf("Canonical(%q) = %q with false", in, got)
			}
			return
		}
		if len(got) < 8 || len(got) > 16 || got[0] != '+' || got[1] == '0' {
			t.Fatalf("Canonical(%q) = %q", in, got)
		}
		for _, c := range got[1:] {
			if c < '0' || c > '9' {
				t.Fatalf("Canonical(%q) = %q", in, got)
			}
		}
		if again, ok := Canonical(got); !ok || again != got {
			t.Fatalf("Canonical(%q) = %q, but Canonical(%q) = %q, %v", in, got, got, again, ok)
		}
	})
}

func BenchmarkCanonical(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Canonical("447700900123"); !ok {
			b.Fatal("not canonical")
		}
	}
}

func BenchmarkFromMSISDN(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromMSISDN("447700900123"); err != nil {
			b.Fatal(err)
		}
	}
}
