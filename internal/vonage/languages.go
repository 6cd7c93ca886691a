package vonage

import (
	"slices"
	"strings"
)

// TalkLanguages are the language codes a Voice API talk action accepts:
// the NCCO schema's definitions/languages (vonage-spec/ncco-schema.json),
// kept here as data; languages_test.go compares the two when the schema is
// at hand. Vonage adds codes in newer releases, so a code missing here may
// still work.
var TalkLanguages = []string{
	"ar", "bn-IN", "ca-ES", "cmn-CN", "cmn-TW", "cs-CZ", "cy-GB", "da-DK", "de-DE", "el-GR",
	"en-AU", "en-GB", "en-GB-WLS", "en-IN", "en-US", "en-ZA", "es-ES", "es-MX", "es-US", "eu-ES",
	"fi-FI", "fil-PH", "fr-CA", "fr-FR", "he-IL", "hi-IN", "hu-HU", "id-ID", "is-IS", "it-IT",
	"ja-JP", "ko-KR", "ml-IN", "nb-NO", "nl-NL", "pl-PL", "pt-BR", "pt-PT", "ro-RO", "ru-RU",
	"sk-SK", "sv-SE", "ta-IN", "te-IN", "th-TH", "tr-TR", "uk-UA", "vi-VN", "yue-CN",
}

// IsTalkLanguage reports whether code is one of TalkLanguages, exactly.
func IsTalkLanguage(code string) bool { return slices.Contains(TalkLanguages, code) }

// regionAliases are region names people write for the ISO code Vonage uses.
var regionAliases = map[string]string{"UK": "GB", "EN": "GB"}

// ClosestTalkLanguage is the code of TalkLanguages that code most likely
// meant: the same code in another case ("en-gb"), a region written another
// way ("en-UK"), else the fewest edits, preferring the same language
// ("de-AT" gives de-DE, not da-DK) and, on a tie, its home country.
func ClosestTalkLanguage(code string) string {
	norm := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(code), "_", "-"))
	lang, region, _ := strings.Cut(norm, "-")
	if r, ok := regionAliases[strings.ToUpper(region)]; ok {
		norm = lang + "-" + strings.ToLower(r)
	}
	best, bestDist, bestSameLang := "", 1<<30, false
	for _, c := range TalkLanguages {
		lc := strings.ToLower(c)
		if lc == norm {
			return c
		}
		cLang, cRegion, _ := strings.Cut(lc, "-")
		same := cLang == lang
		d := editDistance(norm, lc)
		// On a tie, the language's home country: fr-FR rather than fr-CA.
		home := cRegion == cLang && !strings.EqualFold(best, lang+"-"+lang)
		if (same && !bestSameLang) || (same == bestSameLang && (d < bestDist || d == bestDist && home)) {
			best, bestDist, bestSameLang = c, d, same
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
