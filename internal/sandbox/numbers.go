package sandbox

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// OwnedNumber is a number rented by the sandbox account, with its settings.
type OwnedNumber struct {
	Country               string    `json:"country"`
	MSISDN                string    `json:"msisdn"`
	Type                  string    `json:"type"`
	Features              []string  `json:"features"`
	Cost                  string    `json:"cost"`
	AppID                 string    `json:"app_id,omitempty"`
	VoiceCallbackType     string    `json:"voice_callback_type,omitempty"`
	VoiceCallbackValue    string    `json:"voice_callback_value,omitempty"`
	VoiceStatusCallback   string    `json:"voice_status_callback,omitempty"`
	MessagesCallbackType  string    `json:"messages_callback_type,omitempty"`
	MessagesCallbackValue string    `json:"messages_callback_value,omitempty"`
	MoHTTPURL             string    `json:"mo_http_url,omitempty"`
	MoSmppSysType         string    `json:"mo_smpp_sys_type,omitempty"`
	Since                 time.Time `json:"since"`
	// External marks numbers added with AddOwned ("behind maskcall's back")
	// rather than bought through the API.
	External bool `json:"external,omitempty"`
}

// ownedNumberJSON is an owned number as GET /account/numbers shows it.
type ownedNumberJSON struct {
	Country               string   `json:"country"`
	MSISDN                string   `json:"msisdn"`
	MoHTTPURL             string   `json:"moHttpUrl,omitempty"`
	Type                  string   `json:"type"`
	Features              []string `json:"features"`
	MessagesCallbackType  string   `json:"messagesCallbackType,omitempty"`
	MessagesCallbackValue string   `json:"messagesCallbackValue,omitempty"`
	VoiceCallbackType     string   `json:"voiceCallbackType,omitempty"`
	VoiceCallbackValue    string   `json:"voiceCallbackValue,omitempty"`
}

func (n *OwnedNumber) apiView() ownedNumberJSON {
	v := ownedNumberJSON{
		Country:               n.Country,
		MSISDN:                n.MSISDN,
		MoHTTPURL:             n.MoHTTPURL,
		Type:                  n.Type,
		Features:              n.Features,
		MessagesCallbackType:  n.MessagesCallbackType,
		MessagesCallbackValue: n.MessagesCallbackValue,
		VoiceCallbackType:     n.VoiceCallbackType,
		VoiceCallbackValue:    n.VoiceCallbackValue,
	}
	if n.AppID != "" && v.VoiceCallbackType == "" {
		v.VoiceCallbackType, v.VoiceCallbackValue = "app", n.AppID
	}
	if n.AppID != "" && v.MessagesCallbackType == "" {
		v.MessagesCallbackType, v.MessagesCallbackValue = "app", n.AppID
	}
	return v
}

// numberList is the reply of search and of list owned numbers. Like Vonage,
// it has no numbers field when nothing matched.
type numberList[T any] struct {
	Count   int `json:"count"`
	Numbers []T `json:"numbers,omitempty"`
}

// numbersReply is the error-code / error-code-label body of every Numbers
// API reply other than a list.
type numbersReply struct {
	ErrorCode      string `json:"error-code"`
	ErrorCodeLabel string `json:"error-code-label"`
}

// numbersError writes a Numbers API error; the error-code is the HTTP status.
func numbersError(w http.ResponseWriter, status int, label string) {
	writeJSON(w, status, numbersReply{strconv.Itoa(status), label})
}

func numbersSuccess(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, numbersReply{"200", "success"})
}

// statusActionFailed is the Numbers API's "action failed" HTTP status.
const statusActionFailed = 420

// numbersAuth checks the credentials: HTTP Basic, or api_key/api_secret,
// which the Numbers API takes from the query string and, for the
// form-encoded POSTs, from the body too. It writes
// the 401 reply when they are wrong.
func (s *Sandbox) numbersAuth(w http.ResponseWriter, r *http.Request) bool {
	if present, ok := s.basicCreds(r); present {
		if !ok {
			numbersError(w, http.StatusUnauthorized, "authentication failed")
		}
		return ok
	}
	key, secret := r.URL.Query().Get("api_key"), r.URL.Query().Get("api_secret")
	if r.Method == http.MethodPost && key == "" && secret == "" {
		key, secret = r.PostForm.Get("api_key"), r.PostForm.Get("api_secret")
	}
	if !s.validKeySecret(key, secret) {
		numbersError(w, http.StatusUnauthorized, "authentication failed")
		return false
	}
	return true
}

// numbersForm parses a Numbers API POST. Its parameters are form-encoded in
// the body (application/x-www-form-urlencoded); query parameters other than
// the credentials are not looked at.
func (s *Sandbox) numbersForm(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	if err := r.ParseForm(); err != nil {
		numbersError(w, http.StatusBadRequest, "Bad Request: "+err.Error())
		return nil, false
	}
	if !s.numbersAuth(w, r) {
		return nil, false
	}
	return r.PostForm, true
}

var (
	countryRE = regexp.MustCompile(`^[A-Za-z]{2}$`)
	msisdnRE  = regexp.MustCompile(`^[0-9]{7,15}$`)
	digitsRE  = regexp.MustCompile(`^[0-9]+$`)
	uuidRE    = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

type paramError struct {
	missing bool
	name    string
}

func (e paramError) Error() string {
	if e.missing {
		return "Missing parameter: " + e.name
	}
	return "Invalid parameter: " + e.name
}

func missingParam(name string) error { return paramError{true, name} }
func invalidParam(name string) error { return paramError{false, name} }

// parseCountry reads an ISO 3166-1 alpha-2 country code.
func parseCountry(v url.Values, required bool) (string, error) {
	c := v.Get("country")
	switch {
	case c == "" && required:
		return "", missingParam("country")
	case c == "":
		return "", nil
	case !countryRE.MatchString(c):
		return "", invalidParam("country")
	}
	return strings.ToUpper(c), nil
}

// parseFilter reads country, type, features, pattern and search_pattern.
func parseFilter(v url.Values, countryRequired bool) (numberFilter, error) {
	var f numberFilter
	var err error
	if f.country, err = parseCountry(v, countryRequired); err != nil {
		return f, err
	}
	if t := v.Get("type"); t != "" {
		if t != TypeMobile && t != TypeLandline && t != TypeTollFree {
			return f, invalidParam("type")
		}
		f.typ = t
	}
	if fs := v.Get("features"); fs != "" {
		for feat := range strings.SplitSeq(fs, ",") {
			feat = strings.ToUpper(strings.TrimSpace(feat))
			if feat != "SMS" && feat != "VOICE" && feat != "MMS" {
				return f, invalidParam("features")
			}
			f.features = append(f.features, feat)
		}
	}
	if p := v.Get("pattern"); p != "" {
		if !digitsRE.MatchString(p) {
			return f, invalidParam("pattern")
		}
		f.pattern = p
	}
	if sp := v.Get("search_pattern"); sp != "" {
		n, err := strconv.Atoi(sp)
		if err != nil || n < 0 || n > 2 {
			return f, invalidParam("search_pattern")
		}
		f.strategy = n
	}
	return f, nil
}

// parsePaging reads size (default 10, at most 100) and index (default 1).
func parsePaging(v url.Values) (size, index int, err error) {
	size, index = 10, 1
	if s := v.Get("size"); s != "" {
		if size, err = strconv.Atoi(s); err != nil || size < 1 || size > 100 {
			return 0, 0, invalidParam("size")
		}
	}
	if s := v.Get("index"); s != "" {
		if index, err = strconv.Atoi(s); err != nil || index < 1 {
			return 0, 0, invalidParam("index")
		}
	}
	return size, index, nil
}

// handleNumberSearch serves GET /number/search: available numbers, in
// ascending order, excluding those the account owns.
func (s *Sandbox) handleNumberSearch(w http.ResponseWriter, r *http.Request) {
	if !s.numbersAuth(w, r) {
		return
	}
	q := r.URL.Query()
	f, err := parseFilter(q, true)
	if err != nil {
		numbersError(w, statusActionFailed, err.Error())
		return
	}
	size, index, err := parsePaging(q)
	if err != nil {
		numbersError(w, statusActionFailed, err.Error())
		return
	}
	var found []availableNumber
	s.mu.Lock()
	for _, n := range s.inventory.numbers {
		if s.owned[n.MSISDN] == nil && f.match(n.Country, n.MSISDN, n.Type, n.Features) {
			found = append(found, n)
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, numberList[availableNumber]{len(found), page(found, size, index)})
}

// handleOwnedNumbers serves GET /account/numbers.
func (s *Sandbox) handleOwnedNumbers(w http.ResponseWriter, r *http.Request) {
	if !s.numbersAuth(w, r) {
		return
	}
	q := r.URL.Query()
	f, err := parseFilter(q, false)
	if err != nil {
		numbersError(w, statusActionFailed, err.Error())
		return
	}
	size, index, err := parsePaging(q)
	if err != nil {
		numbersError(w, statusActionFailed, err.Error())
		return
	}
	appID := q.Get("application_id")
	hasApp := q.Get("has_application")
	if hasApp != "" && hasApp != "true" && hasApp != "false" {
		numbersError(w, statusActionFailed, invalidParam("has_application").Error())
		return
	}
	var found []ownedNumberJSON
	for _, n := range s.OwnedNumbers() {
		switch {
		case !f.match(n.Country, n.MSISDN, n.Type, n.Features),
			appID != "" && n.AppID != appID,
			hasApp == "true" && n.AppID == "",
			hasApp == "false" && n.AppID != "":
			continue
		}
		found = append(found, n.apiView())
	}
	writeJSON(w, http.StatusOK, numberList[ownedNumberJSON]{len(found), page(found, size, index)})
}

// numberTarget reads the country and msisdn every Numbers POST needs.
func numberTarget(form url.Values) (country, msisdn string, err error) {
	if country, err = parseCountry(form, true); err != nil {
		return "", "", err
	}
	msisdn = form.Get("msisdn")
	switch {
	case msisdn == "":
		return "", "", missingParam("msisdn")
	case !msisdnRE.MatchString(msisdn):
		return "", "", invalidParam("msisdn")
	}
	return country, msisdn, nil
}

// targetForm reads a Numbers POST's form and the number it acts on,
// replying with the error itself when either is wrong.
func (s *Sandbox) targetForm(w http.ResponseWriter, r *http.Request) (url.Values, string, string, bool) {
	form, ok := s.numbersForm(w, r)
	if !ok {
		return nil, "", "", false
	}
	country, msisdn, err := numberTarget(form)
	if err != nil {
		numbersError(w, statusActionFailed, err.Error())
		return nil, "", "", false
	}
	return form, country, msisdn, true
}

// ownedTarget returns the owned number msisdn of country, or replies that
// the account does not own it and returns nil. s.mu must be held.
func (s *Sandbox) ownedTarget(w http.ResponseWriter, country, msisdn string) *OwnedNumber {
	n := s.owned[msisdn]
	if n == nil || n.Country != country {
		numbersError(w, statusActionFailed, "method failed: you do not own number "+msisdn+" in "+country)
		return nil
	}
	return n
}

// handleNumberBuy serves POST /number/buy.
func (s *Sandbox) handleNumberBuy(w http.ResponseWriter, r *http.Request) {
	form, country, msisdn, ok := s.targetForm(w, r)
	if !ok {
		return
	}
	if t := form.Get("target_api_key"); t != "" && t != s.cfg.APIKey {
		numbersError(w, statusActionFailed, "method failed: unknown target_api_key")
		return
	}
	avail, inStock := s.inventory.lookup(msisdn)
	s.mu.Lock()
	defer s.mu.Unlock()
	var cost float64
	switch {
	case s.owned[msisdn] != nil:
		numbersError(w, statusActionFailed, "method failed: you already own this number")
		return
	case !inStock || avail.Country != country:
		numbersError(w, statusActionFailed, "method failed: number "+msisdn+" is not available in "+country)
		return
	default:
		cost, _ = strconv.ParseFloat(avail.Cost, 64)
		if cost > s.balance {
			numbersError(w, statusActionFailed, fmt.Sprintf("method failed: insufficient balance (%.2f EUR) to buy a number costing %s EUR", s.balance, avail.Cost))
			return
		}
	}
	s.balance -= cost
	s.owned[msisdn] = &OwnedNumber{
		Country: avail.Country, MSISDN: msisdn, Type: avail.Type,
		Features: avail.Features, Cost: avail.Cost, Since: s.now(),
	}
	numbersSuccess(w)
}

// handleNumberCancel serves POST /number/cancel.
func (s *Sandbox) handleNumberCancel(w http.ResponseWriter, r *http.Request) {
	_, country, msisdn, ok := s.targetForm(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ownedTarget(w, country, msisdn) == nil {
		return
	}
	delete(s.owned, msisdn)
	numbersSuccess(w)
}

// handleNumberUpdate serves POST /number/update. Only the parameters present
// in the request change; an empty value clears a setting.
func (s *Sandbox) handleNumberUpdate(w http.ResponseWriter, r *http.Request) {
	form, country, msisdn, ok := s.targetForm(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.ownedTarget(w, country, msisdn)
	if n == nil {
		return
	}
	updated := *n
	if err := applyUpdate(&updated, form); err != nil {
		numbersError(w, statusActionFailed, err.Error())
		return
	}
	*n = updated
	numbersSuccess(w)
}

// applyUpdate copies the settings in form onto n.
func applyUpdate(n *OwnedNumber, form url.Values) error {
	if form.Has("app_id") {
		id := form.Get("app_id")
		if id != "" && !uuidRE.MatchString(id) {
			return invalidParam("app_id")
		}
		n.AppID = id
	}
	if form.Has("voiceCallbackType") || form.Has("voiceCallbackValue") {
		typ, val := form.Get("voiceCallbackType"), form.Get("voiceCallbackValue")
		if (typ == "") != (val == "") {
			return errors.New("Invalid parameter: voiceCallbackType and voiceCallbackValue must be used together")
		}
		if typ != "" && typ != "sip" && typ != "tel" && typ != "app" {
			return invalidParam("voiceCallbackType")
		}
		n.VoiceCallbackType, n.VoiceCallbackValue = typ, val
	}
	if form.Has("messagesCallbackType") || form.Has("messagesCallbackValue") {
		typ, val := form.Get("messagesCallbackType"), form.Get("messagesCallbackValue")
		if (typ == "") != (val == "") {
			return errors.New("Invalid parameter: messagesCallbackType and messagesCallbackValue must be used together")
		}
		if typ != "" && typ != "app" {
			return invalidParam("messagesCallbackType")
		}
		n.MessagesCallbackType, n.MessagesCallbackValue = typ, val
	}
	if form.Has("moHttpUrl") {
		u := form.Get("moHttpUrl")
		if u != "" && !isHTTPURL(u) {
			return invalidParam("moHttpUrl")
		}
		n.MoHTTPURL = u
	}
	if form.Has("voiceStatusCallback") {
		u := form.Get("voiceStatusCallback")
		if u != "" && !isHTTPURL(u) {
			return invalidParam("voiceStatusCallback")
		}
		n.VoiceStatusCallback = u
	}
	if form.Has("moSmppSysType") {
		n.MoSmppSysType = form.Get("moSmppSysType")
	}
	return nil
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// OwnedNumbers returns the numbers the account owns, by msisdn.
func (s *Sandbox) OwnedNumbers() []OwnedNumber {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]OwnedNumber, 0, len(s.owned))
	for _, n := range s.owned {
		out = append(out, *n)
	}
	slices.SortFunc(out, func(a, b OwnedNumber) int { return cmp.Compare(a.MSISDN, b.MSISDN) })
	return out
}

// AddOwned makes the account own a number without going through the API and
// without charging for it, as if someone had bought it in the Vonage
// dashboard. Only Country and MSISDN are required; a number of the inventory
// gets its type, features and cost from there (others default to a mobile
// number with VOICE and SMS). AppID, if set, links it to an application.
func (s *Sandbox) AddOwned(n OwnedNumber) error {
	n.Country = strings.ToUpper(n.Country)
	if !countryRE.MatchString(n.Country) {
		return errors.New("sandbox: country must be an ISO 3166-1 alpha-2 code")
	}
	if !msisdnRE.MatchString(n.MSISDN) {
		return errors.New("sandbox: msisdn must be 7 to 15 digits, without '+'")
	}
	if n.AppID != "" && !uuidRE.MatchString(n.AppID) {
		return errors.New("sandbox: app_id must be a UUID")
	}
	if avail, ok := s.inventory.lookup(n.MSISDN); ok {
		if avail.Country != n.Country {
			return fmt.Errorf("sandbox: %s is a %s number", n.MSISDN, avail.Country)
		}
		n.Type, n.Features, n.Cost = avail.Type, avail.Features, avail.Cost
	}
	if n.Type == "" {
		n.Type = TypeMobile
	}
	if n.Features == nil {
		n.Features = []string{"VOICE", "SMS"}
	}
	n.External = true
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owned[n.MSISDN] != nil {
		return fmt.Errorf("sandbox: %s is already owned", n.MSISDN)
	}
	if n.Since.IsZero() {
		n.Since = s.now()
	}
	s.owned[n.MSISDN] = &n
	return nil
}

// RemoveOwned makes the account lose a number without going through the API,
// as if it had been cancelled in the dashboard. It reports whether the
// number was owned.
func (s *Sandbox) RemoveOwned(msisdn string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.owned[msisdn]
	delete(s.owned, msisdn)
	return ok
}
