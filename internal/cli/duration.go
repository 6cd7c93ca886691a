package cli

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// dayTerm is a number of days in a duration such as "7d" or "1.5d12h".
var dayTerm = regexp.MustCompile(`(\d+(?:\.\d+)?)d`)

// parseDuration is the one parser of durations the user types, in flags and
// settings alike: Go's (90m, 2h30m) plus days (7d, 1d12h), a day being 24
// hours.
func parseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	var bad bool
	expanded := dayTerm.ReplaceAllStringFunc(in, func(term string) string {
		days, err := strconv.ParseFloat(strings.TrimSuffix(term, "d"), 64)
		if err != nil || days > 100*365 {
			bad = true
			return term
		}
		return strconv.FormatFloat(days*24, 'f', -1, 64) + "h"
	})
	d, err := time.ParseDuration(expanded)
	if bad || err != nil {
		return 0, fmt.Errorf("%q is not a duration; write it like 90m, 2h or 7d", s)
	}
	return d, nil
}

// formatDuration prints d the way parseDuration reads it, days included.
func formatDuration(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	s := d.String() // "1h0m0s": drop the zero units at the end
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// durationValue is a pflag.Value for parseDuration.
type durationValue struct{ d *time.Duration }

func (v durationValue) String() string {
	if v.d == nil || *v.d == 0 {
		return "0s"
	}
	return formatDuration(*v.d)
}

func (v durationValue) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

// Type is "duration", so usage reads like that of time.Duration flags.
func (v durationValue) Type() string { return "duration" }
