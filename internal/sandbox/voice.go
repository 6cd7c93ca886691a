package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
)

// problem is the error body of the Voice API (common_errors.yml).
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Detail   string `json:"detail"`
	Instance string `json:"instance"`
}

const errorDocs = "https://developer.nexmo.com/api-errors#"

// problemType is the type URL of an error with that HTTP status.
func problemType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return errorDocs + "bad-request"
	case http.StatusUnauthorized:
		return errorDocs + "unauthorized"
	case http.StatusNotFound:
		return errorDocs + "not-found"
	case http.StatusMethodNotAllowed:
		return errorDocs + "wrong-verb"
	case http.StatusUnsupportedMediaType:
		return errorDocs + "content-type-header"
	}
	return errorDocs + "internal-error"
}

// writeProblem writes a Voice API error.
func writeProblem(w http.ResponseWriter, status int, typ, title, detail string) {
	var id [16]byte
	_, _ = rand.Read(id[:])
	writeJSON(w, status, problem{typ, title, detail, hex.EncodeToString(id[:])})
}

func voiceUnauthorized(w http.ResponseWriter) {
	writeProblem(w, http.StatusUnauthorized, problemType(http.StatusUnauthorized),
		"Invalid credentials supplied", "You did not provide correct credentials.")
}

func voiceNotFound(w http.ResponseWriter, id string) {
	writeProblem(w, http.StatusNotFound, problemType(http.StatusNotFound),
		"Not Found", fmt.Sprintf("ID '%s' does not exist, or you do not have access", id))
}

func voiceBadRequest(w http.ResponseWriter, detail string) {
	writeProblem(w, http.StatusBadRequest, problemType(http.StatusBadRequest), "Bad Request", detail)
}

// voiceCall finds the call a Voice API request is about (by the uuid of
// either leg), checking the bearer token; it writes the error reply and
// returns nil when it fails. The caller must not hold s.mu.
func (s *Sandbox) voiceCall(w http.ResponseWriter, r *http.Request) *CallResult {
	appID, err := s.verifyBearer(r)
	if err != nil {
		voiceUnauthorized(w)
		return nil
	}
	id := r.PathValue("uuid")
	s.mu.Lock()
	call := s.calls[id]
	s.mu.Unlock()
	if call == nil || (call.ApplicationID != "" && call.ApplicationID != appID) {
		voiceNotFound(w, id)
		return nil
	}
	return call
}

// callUpdate is the body of PUT /v1/calls/{uuid}.
type callUpdate struct {
	Action      string `json:"action"`
	Destination *struct {
		Type string          `json:"type"`
		URL  []string        `json:"url"`
		NCCO json.RawMessage `json:"ncco"`
	} `json:"destination"`
}

func (u callUpdate) validate() string {
	switch u.Action {
	case "hangup", "mute", "unmute", "earmuff", "unearmuff":
		return ""
	case "transfer":
		d := u.Destination
		switch {
		case d == nil || d.Type != "ncco":
			return "transfer needs a destination of type ncco"
		case len(d.URL) == 0 && len(d.NCCO) == 0:
			return "transfer needs destination.url or destination.ncco"
		}
		return ""
	case "":
		return "action is required"
	}
	return fmt.Sprintf("action %q is not one of hangup, mute, unmute, earmuff, unearmuff, transfer", u.Action)
}

// handleCallUpdate serves PUT /v1/calls/{uuid}: modify a leg in progress.
// A hangup ends it and the leg connected to it (the whole call); their
// completed events are sent in the background.
func (s *Sandbox) handleCallUpdate(w http.ResponseWriter, r *http.Request) {
	call := s.voiceCall(w, r)
	if call == nil {
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeProblem(w, http.StatusUnsupportedMediaType, problemType(http.StatusUnsupportedMediaType),
			"Unsupported Content-Type header",
			"Unsupported Content-Type header provided. Must be one of the following: 'application/json'")
		return
	}
	var u callUpdate
	if err := json.NewDecoder(r.Body).Decode(&u); err != nil {
		voiceBadRequest(w, "The request body is not valid JSON: "+err.Error())
		return
	}
	if msg := u.validate(); msg != "" {
		voiceBadRequest(w, msg)
		return
	}
	id := r.PathValue("uuid")
	s.mu.Lock()
	leg := call.leg(id)
	if leg.Status == StatusCompleted {
		s.mu.Unlock()
		voiceNotFound(w, id)
		return
	}
	update := u.Action
	if leg != &call.CallLeg {
		update = "outbound: " + update
	}
	call.Updates = append(call.Updates, update)
	if u.Action == "hangup" {
		legs, end := s.hangup(call, leg)
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.sendCompleted(context.Background(), call, legs, end)
		}()
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// endpointJSON is a call's from or to in the Voice API.
type endpointJSON struct {
	Type   string `json:"type"`
	Number string `json:"number"`
}

// callJSON is GET /v1/calls/{uuid}'s reply (voice.yml GetCallResponse).
type callJSON struct {
	Links struct {
		Self struct {
			Href string `json:"href"`
		} `json:"self"`
	} `json:"_links"`
	UUID             string       `json:"uuid"`
	ConversationUUID string       `json:"conversation_uuid"`
	To               endpointJSON `json:"to"`
	From             endpointJSON `json:"from"`
	Status           string       `json:"status"`
	Direction        string       `json:"direction"`
	Rate             string       `json:"rate"`
	Price            string       `json:"price,omitempty"`
	Duration         string       `json:"duration,omitempty"`
	StartTime        string       `json:"start_time,omitempty"`
	EndTime          string       `json:"end_time,omitempty"`
	Network          string       `json:"network"`
}

// handleCallGet serves GET /v1/calls/{uuid}: the leg with that uuid.
func (s *Sandbox) handleCallGet(w http.ResponseWriter, r *http.Request) {
	call := s.voiceCall(w, r)
	if call == nil {
		return
	}
	s.mu.Lock()
	l, conversationUUID := *call.leg(r.PathValue("uuid")), call.ConversationUUID
	s.mu.Unlock()
	var out callJSON
	out.Links.Self.Href = "/v1/calls/" + l.UUID
	out.UUID, out.ConversationUUID = l.UUID, conversationUUID
	out.To, out.From = endpointJSON{"phone", l.To}, endpointJSON{"phone", l.From}
	out.Status, out.Direction, out.Rate, out.Network = l.Status, l.Direction, l.Rate, l.Network
	if !l.AnswerTime.IsZero() {
		out.StartTime = formatTime(l.AnswerTime)
	}
	if l.Status == StatusCompleted {
		out.Price, out.Duration = l.Price, fmt.Sprint(l.DurationSeconds)
		out.EndTime = formatTime(l.EndTime)
	}
	writeJSON(w, http.StatusOK, out)
}
