package cli

import (
	"fmt"
	"strings"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/phone"
)

// outOfSessionForward reads voice.out_of_session: "not_in_service" (or
// empty) gives "", "forward:NUMBER" the number in E.164. The number must be
// international (no default country applies to a setting that routes
// calls).
func outOfSessionForward(setting string) (string, error) {
	s := strings.TrimSpace(setting)
	if s == "" || s == "not_in_service" {
		return "", nil
	}
	bad := func(why string) error {
		return maskcall.Errorf(maskcall.ECONFIG, "voice.out_of_session is %q: %s.", setting, why).
			WithHint("Set voice.out_of_session (MASKCALL_VOICE_OUT_OF_SESSION) to not_in_service, or to forward: and an international number, e.g. forward:+442079460321.")
	}
	raw, ok := strings.CutPrefix(s, "forward:")
	if !ok {
		return "", bad("it must be not_in_service or forward:+NUMBER")
	}
	n, err := phone.Parse(strings.TrimSpace(raw), "")
	if err != nil {
		return "", bad(fmt.Sprintf("the number to forward to is not a valid international number (%v)", err))
	}
	return n.E164, nil
}
