package main

import (
	"strings"
	"testing"
)

// A voice.language Vonage does not know (en-UK for en-GB) would make every
// NCCO invalid: every command warns, naming the closest code; serve refuses
// to start unless told the code is known to work.
func TestVoiceLanguageChecked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "1")
	for typo, closest := range map[string]string{"en-UK": "en-GB", "en-gb": "en-GB", "de-AT": "de-DE"} {
		bad := e.with("MASKCALL_VOICE_LANGUAGE", typo)

		_, stderr, code := run(t, bad, "numbers", "list")
		if code != 0 || !strings.Contains(stderr, `voice.language is "`+typo+`"`) || !strings.Contains(stderr, `"`+closest+`"`) {
			t.Errorf("%s: numbers list exit %d, stderr does not warn naming %s:\n%s", typo, code, closest, stderr)
		}

		_, line := runFail(t, bad, 3, "serve", "--listen", "127.0.0.1:0")
		for _, want := range []string{"voice.language", typo, `"` + closest + `"`, "every call would fail", "voice.allow_unknown_language"} {
			if !strings.Contains(line, want) {
				t.Errorf("%s: serve's error line %q does not say %q", typo, line, want)
			}
		}
	}

	// Told the code works (Vonage added it after this release), serve
	// starts and says so.
	srv := startServe(t, e.with("MASKCALL_VOICE_LANGUAGE", "en-NZ").with("MASKCALL_VOICE_ALLOW_UNKNOWN_LANGUAGE", "true"))
	if !strings.Contains(srv.stderr.String(), "serving it anyway") {
		t.Errorf("serve did not warn about en-NZ:\n%s", srv.stderr.String())
	}
	srv.stop()

	// A known code: no warning at all.
	_, stderr, _ := run(t, e.with("MASKCALL_VOICE_LANGUAGE", "cy-GB"), "numbers", "list")
	if strings.Contains(stderr, "voice.language") {
		t.Errorf("a known code warned:\n%s", stderr)
	}
}
