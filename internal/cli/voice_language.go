package cli

import (
	"fmt"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/vonage"
)

// voice.language is spoken by every talk action serve answers with. A code
// Vonage does not know (a typo such as en-UK) makes every NCCO invalid, so
// every call fails at Vonage. maskcall knows the codes of the NCCO schema;
// Vonage adds codes in newer releases, so outside serve an unknown code is
// a warning, and serve refuses it unless voice.allow_unknown_language says
// the code is known to work.

// voiceLanguageProblem says what is wrong with voice.language, "" if it is
// a known code.
func voiceLanguageProblem(cfg *Config) string {
	code := cfg.String("voice.language")
	if vonage.IsTalkLanguage(code) {
		return ""
	}
	return fmt.Sprintf("voice.language is %q, which is not one of Vonage's text-to-speech languages; the closest is %q", code, vonage.ClosestTalkLanguage(code))
}

// checkVoiceLanguage is serve's check: an unknown voice.language stops it,
// unless voice.allow_unknown_language is set, when it is a warning.
func checkVoiceLanguage(cfg *Config, io *IOStreams) error {
	problem := voiceLanguageProblem(cfg)
	if problem == "" {
		return nil
	}
	allow, err := cfg.Bool("voice.allow_unknown_language")
	if err != nil {
		return err
	}
	if allow {
		io.Statusf("Warning: %s; serving it anyway, as voice.allow_unknown_language is set.", problem)
		return nil
	}
	code := cfg.String("voice.language")
	return maskcall.Errorf(maskcall.ECONFIG, "%s: Vonage would refuse every NCCO, so every call would fail.", problem).
		WithHint(fmt.Sprintf("Set voice.language (MASKCALL_VOICE_LANGUAGE) to %q, or, if Vonage added %q after this release, set voice.allow_unknown_language (MASKCALL_VOICE_ALLOW_UNKNOWN_LANGUAGE) to true.",
			vonage.ClosestTalkLanguage(code), code))
}
