package sandbox

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// inspectError writes an error of the /_sandbox/ endpoints.
func inspectError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// decodeBody decodes a /_sandbox/ request's JSON body into v, rejecting
// unknown fields so that typos do not pass silently.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		inspectError(w, http.StatusBadRequest, errors.New("invalid JSON body: "+err.Error()))
		return false
	}
	return true
}

// handleInspectRequests serves GET /_sandbox/requests[?path=/number/buy].
func (s *Sandbox) handleInspectRequests(w http.ResponseWriter, r *http.Request) {
	reqs := s.Requests()
	if path := r.URL.Query().Get("path"); path != "" {
		filtered := reqs[:0]
		for _, rec := range reqs {
			if rec.Path == path {
				filtered = append(filtered, rec)
			}
		}
		reqs = filtered
	}
	writeJSON(w, http.StatusOK, orEmpty(reqs))
}

func (s *Sandbox) handleInspectSMS(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, orEmpty(s.SentSMS()))
}

func (s *Sandbox) handleInspectNumbers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, orEmpty(s.OwnedNumbers()))
}

// handleAddOwned serves POST /_sandbox/owned {"country","msisdn","app_id"}.
func (s *Sandbox) handleAddOwned(w http.ResponseWriter, r *http.Request) {
	var n OwnedNumber
	if !decodeBody(w, r, &n) {
		return
	}
	if err := s.AddOwned(n); err != nil {
		inspectError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusCreated, orEmpty(s.OwnedNumbers()))
}

// handleRemoveOwned serves DELETE /_sandbox/owned/{msisdn}.
func (s *Sandbox) handleRemoveOwned(w http.ResponseWriter, r *http.Request) {
	if !s.RemoveOwned(r.PathValue("msisdn")) {
		inspectError(w, http.StatusNotFound, errors.New("number not owned"))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type balanceJSON struct {
	Balance float64 `json:"balance"`
}

func (s *Sandbox) handleGetBalance(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, balanceJSON{s.Balance()})
}

// handleSetBalance serves POST /_sandbox/balance {"balance": 1.5}.
func (s *Sandbox) handleSetBalance(w http.ResponseWriter, r *http.Request) {
	var b balanceJSON
	if !decodeBody(w, r, &b) {
		return
	}
	s.SetBalance(b.Balance)
	writeJSON(w, http.StatusOK, b)
}

func (s *Sandbox) handleListFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, orEmpty(s.Faults()))
}

// handleInjectFault serves POST /_sandbox/faults with a Fault.
func (s *Sandbox) handleInjectFault(w http.ResponseWriter, r *http.Request) {
	var f Fault
	if !decodeBody(w, r, &f) {
		return
	}
	if err := s.InjectFault(f); err != nil {
		inspectError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusCreated, orEmpty(s.Faults()))
}

func (s *Sandbox) handleClearFaults(w http.ResponseWriter, r *http.Request) {
	s.ClearFaults()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sandbox) handleReset(w http.ResponseWriter, r *http.Request) {
	s.Reset()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sandbox) handleListCalls(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, orEmpty(s.Calls()))
}

// handleSimulateCall serves POST /_sandbox/calls with a CallRequest; it
// replies with the CallResult once the simulation is over.
func (s *Sandbox) handleSimulateCall(w http.ResponseWriter, r *http.Request) {
	var req CallRequest
	if !decodeBody(w, r, &req) {
		return
	}
	res, err := s.SimulateCall(r.Context(), req)
	if err != nil {
		inspectError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Sandbox) handleGetCall(w http.ResponseWriter, r *http.Request) {
	c, ok := s.Call(r.PathValue("uuid"))
	if !ok {
		inspectError(w, http.StatusNotFound, ErrCallNotFound)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// handleEndCall serves POST /_sandbox/calls/{uuid}/hangup: the caller hangs
// up a call left open.
func (s *Sandbox) handleEndCall(w http.ResponseWriter, r *http.Request) {
	c, err := s.EndCall(r.Context(), r.PathValue("uuid"))
	switch {
	case errors.Is(err, ErrCallNotFound):
		inspectError(w, http.StatusNotFound, err)
	case err != nil:
		inspectError(w, http.StatusConflict, err)
	default:
		writeJSON(w, http.StatusOK, c)
	}
}

// orEmpty makes nil slices encode as [] rather than null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Endpoint is a route of the sandbox, as GET /_sandbox/ lists it.
type Endpoint struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	What   string `json:"what,omitempty"`
}

// Index is the reply of GET /_sandbox/.
type Index struct {
	About string `json:"about"`
	// Sandbox lists the inspection, set-up and fault endpoints.
	Sandbox []Endpoint `json:"sandbox"`
	// API lists the Vonage API routes the sandbox imitates.
	API []Endpoint `json:"api"`
}

// handleIndex serves GET /_sandbox/: what the sandbox offers.
func (s *Sandbox) handleIndex(w http.ResponseWriter, r *http.Request) {
	idx := Index{
		About:   "maskcall's local imitation of the Vonage APIs. Vonage API requests go to the paths under api; the endpoints under sandbox inspect and steer it.",
		Sandbox: s.tools,
	}
	for _, route := range s.apiRoutes {
		method, path, _ := strings.Cut(route, " ")
		idx.API = append(idx.API, Endpoint{Method: method, Path: path})
	}
	writeJSON(w, http.StatusOK, idx)
}
