package vonage

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestTalkLanguagesMatchSchema compares TalkLanguages with the NCCO
// schema's list, when ../shared/vonage-spec is beside the repository.
func TestTalkLanguagesMatchSchema(t *testing.T) {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	var path string
	for {
		cand := filepath.Join(dir, "shared", "vonage-spec", "ncco-schema.json")
		if _, err := os.Stat(cand); err == nil {
			path = cand
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("NCCO schema (shared/vonage-spec/ncco-schema.json) not found; skipping the comparison of TalkLanguages with it")
		}
		dir = parent
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Definitions struct {
			Languages struct {
				Enum []string `json:"enum"`
			} `json:"languages"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(schema.Definitions.Languages.Enum)
	if len(want) == 0 {
		t.Fatal("the schema lists no languages (definitions/languages/enum)")
	}
	got := slices.Clone(TalkLanguages)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		for _, c := range want {
			if !slices.Contains(got, c) {
				t.Errorf("the schema has %q, TalkLanguages does not", c)
			}
		}
		for _, c := range got {
			if !slices.Contains(want, c) {
				t.Errorf("TalkLanguages has %q, the schema does not", c)
			}
		}
	}
}

func TestClosestTalkLanguage(t *testing.T) {
	for in, want := range map[string]string{
		"en-UK":     "en-GB",
		"en-gb":     "en-GB",
		"EN_GB":     "en-GB",
		"en-GB":     "en-GB",
		"en-USA":    "en-US",
		"de-AT":     "de-DE",
		"fr-BE":     "fr-FR",
		"pt":        "pt-PT",
		"cmn-cn":    "cmn-CN",
		"en-GB-wls": "en-GB-WLS",
		"xx-YY":     TalkLanguages[0],
	} {
		if in == "xx-YY" {
			// No language in common: the fewest edits, whatever it is.
			if got := ClosestTalkLanguage(in); !IsTalkLanguage(got) {
				t.Errorf("ClosestTalkLanguage(%q) = %q, not a language", in, got)
			}
			continue
		}
		if got := ClosestTalkLanguage(in); got != want {
			t.Errorf("ClosestTalkLanguage(%q) = %q, want %q", in, got, want)
		}
	}
	if IsTalkLanguage("en-gb") || IsTalkLanguage("en-UK") || !IsTalkLanguage("en-GB") {
		t.Error("IsTalkLanguage is not exact")
	}
}
