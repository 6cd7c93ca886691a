package webhook

import (
	"errors"
	"strings"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/vonage/signature"
)

// Observer is told what the webhooks decided, for metrics (serve's
// internal/metrics implements it). Every label value it gets is from a small
// fixed set named below, never a number or text from a request, so that it
// can keep a counter per value made once. Its methods must be cheap and must
// not block: ObserveAnswer is on the answer webhook's hot path.
type Observer interface {
	// ObserveAnswer: an answer webhook was answered with outcome
	// (AnswerOutcomes) d after it arrived.
	ObserveAnswer(outcome string, d time.Duration)
	// ObserveRefused: a webhook's verification failed (Webhooks,
	// RefusalReasons).
	ObserveRefused(webhook, reason string)
	// ObserveEvent: an event webhook with a call status (CallStatuses, or
	// "none" or "invalid") got result (EventResults).
	ObserveEvent(status, result string)
	// ObserveInboundSMS: an inbound SMS webhook had outcome
	// (InboundSMSOutcomes).
	ObserveInboundSMS(outcome string)
	// ObserveStoreError: the store failed operation (StoreOperations)
	// with an error of code (a maskcall error code).
	ObserveStoreError(operation, code string)
}

// Answer outcomes.
const (
	OutcomeConnected    = "connected"      // a connect NCCO to the other participant
	OutcomeForwarded    = "forwarded"      // out of session, connected to Config.OutOfSessionForward
	OutcomeNotInService = "not_in_service" // a well-formed call no active conversation has
	OutcomeRefused      = "refused"        // verification failed, or the request is malformed
	OutcomeUnavailable  = "unavailable"    // 503: the store cannot be reached; Vonage retries elsewhere
	OutcomeError        = "error"          // a store error or a panic: "not in service" was said
)

// AnswerOutcomes are every outcome ObserveAnswer is given.
var AnswerOutcomes = []string{OutcomeConnected, OutcomeForwarded, OutcomeNotInService, OutcomeRefused, OutcomeUnavailable, OutcomeError}

// Webhooks are the webhook names of ObserveRefused.
var Webhooks = []string{routeAnswer, routeEvent, inboundSMSName}

const inboundSMSName = "inbound_sms"

// Verification failure reasons.
const (
	ReasonMissing         = "missing"           // no token or sig at all
	ReasonMalformed       = "malformed"         // not a bearer token, not a JWT, no iat, ...
	ReasonBadSignature    = "bad_signature"     // signed with another secret or algorithm
	ReasonPayloadMismatch = "payload_mismatch"  // payload_hash is not the payload's
	ReasonExpired         = "expired"           // iat (or timestamp) too old, exp passed
	ReasonNotYetValid     = "not_yet_valid"     // iat (or timestamp) in the future, nbf
	ReasonWrongClaims     = "wrong_claims"      // iss, api_key, application_id, no jti
	ReasonReplayed        = "replayed"          // jti seen before
	ReasonReplayCacheFull = "replay_cache_full" // the token could not be remembered
	ReasonOther           = "other"
)

// RefusalReasons are every reason ObserveRefused is given.
var RefusalReasons = []string{ReasonMissing, ReasonMalformed, ReasonBadSignature, ReasonPayloadMismatch, ReasonExpired,
	ReasonNotYetValid, ReasonWrongClaims, ReasonReplayed, ReasonReplayCacheFull, ReasonOther}

// refusalReasons map the verifiers' reasons (signature's and verify's
// words) to the fixed set.
var refusalReasons = map[string]string{
	"not a bearer token":                    ReasonMalformed,
	"malformed token":                       ReasonMalformed,
	"no iat":                                ReasonMalformed,
	"no valid payload_hash":                 ReasonMalformed,
	"unverifiable token":                    ReasonMalformed,
	"invalid token":                         ReasonMalformed,
	"bad signature or algorithm":            ReasonBadSignature,
	"payload_hash mismatch":                 ReasonPayloadMismatch,
	"payload unreadable":                    ReasonPayloadMismatch,
	"iat too old":                           ReasonExpired,
	"token expired":                         ReasonExpired,
	"iat in the future":                     ReasonNotYetValid,
	"token not valid yet":                   ReasonNotYetValid,
	"iss is not " + signature.Issuer:        ReasonWrongClaims,
	"api_key is not the configured API key": ReasonWrongClaims,
	"application_id is not the configured application": ReasonWrongClaims,
	"no jti":                           ReasonWrongClaims,
	"replayed token (jti seen before)": ReasonReplayed,
	// The SMS API's sig.
	"no sig":                        ReasonMissing,
	"no timestamp":                  ReasonMissing,
	"timestamp is not unix seconds": ReasonMalformed,
	"timestamp too old":             ReasonExpired,
	"timestamp in the future":       ReasonNotYetValid,
	"sig mismatch":                  ReasonBadSignature,
}

// RefusalReason names why verification refused err, from RefusalReasons.
func RefusalReason(err error) string {
	switch {
	case errors.Is(err, errUnsigned):
		return ReasonMissing
	case errors.Is(err, errReplayFull):
		return ReasonReplayCacheFull
	}
	if r, ok := refusalReasons[strings.TrimPrefix(err.Error(), signature.ErrRefused.Error()+": ")]; ok {
		return r
	}
	return ReasonOther
}

// Event results.
const (
	EventRecorded = "recorded" // stored
	EventIgnored  = "ignored"  // 204 but not stored: a duplicate, no call matches, no status
	EventRefused  = "refused"  // 4xx: malformed
	EventError    = "error"    // 5xx: Vonage retries
)

// EventResults are every result ObserveEvent is given.
var EventResults = []string{EventRecorded, EventIgnored, EventRefused, EventError}

// Event statuses that are not a call status.
const (
	EventStatusNone    = "none"    // transfer, input, ... events
	EventStatusInvalid = "invalid" // a status Vonage does not send, or none could be read
)

// Inbound SMS outcomes besides the new message's status (received,
// blocked, unknown: maskcall.MessageStatus).
const (
	SMSDuplicate  = "duplicate"  // a part Vonage resent
	SMSIgnored    = "ignored"    // not text
	SMSInvalid    = "invalid"    // 4xx: missing or malformed fields, too large
	SMSUnverified = "unverified" // 401: the sig is wrong
	SMSError      = "error"      // 500: the store failed; Vonage resends it
)

// InboundSMSOutcomes are every outcome ObserveInboundSMS is given.
var InboundSMSOutcomes = []string{string(maskcall.MessageReceived), string(maskcall.MessageBlocked), string(maskcall.MessageUnknown),
	string(maskcall.MessageRelayed), string(maskcall.MessageFailed), SMSDuplicate, SMSIgnored, SMSInvalid, SMSUnverified, SMSError}

// Store operations the webhooks report errors of.
const (
	OpAnswerCall       = "answer_call"        // FindRoute and the call's record
	OpRecordCallEvent  = "record_call_event"  // RecordCallEvent
	OpRecordInboundSMS = "record_inbound_sms" // RecordInboundSMS
)

// StoreOperations are the operations ObserveStoreError is given here.
var StoreOperations = []string{OpAnswerCall, OpRecordCallEvent, OpRecordInboundSMS}

// reasonNoConversation is the answer webhook's reason for a well-formed
// call no active conversation has: "not in service" is the truth then.
const reasonNoConversation = "no active conversation"

// nopObserver observes nothing.
type nopObserver struct{}

func (nopObserver) ObserveAnswer(string, time.Duration) {}
func (nopObserver) ObserveRefused(string, string)       {}
func (nopObserver) ObserveEvent(string, string)         {}
func (nopObserver) ObserveInboundSMS(string)            {}
func (nopObserver) ObserveStoreError(string, string)    {}

func observerOr(o Observer) Observer {
	if o == nil {
		return nopObserver{}
	}
	return o
}

// observeAnswer reports an answer route decided (answer.go's deferred
// log): decision and reason as logged, callErr the store's or a panic's.
func (h *Handler) observeAnswer(decision, reason string, callErr error, start time.Time) {
	var outcome string
	switch {
	case decision == decisionConnect:
		outcome = OutcomeConnected
	case decision == decisionForward:
		outcome = OutcomeForwarded
	case decision == decisionUnavailable:
		outcome = OutcomeUnavailable
	case callErr != nil:
		outcome = OutcomeError
	case reason == reasonNoConversation:
		outcome = OutcomeNotInService
	default:
		outcome = OutcomeRefused // malformed, event-shaped, numbers that do not parse
	}
	if callErr != nil && reason != "panic" && reason != "bad route" {
		h.obs.ObserveStoreError(OpAnswerCall, maskcall.ErrorCode(callErr))
	}
	h.obs.ObserveAnswer(outcome, time.Since(start))
}

// observeRefused reports a webhook request verification stopped.
func (h *Handler) observeRefused(route string, err error, start time.Time) {
	h.obs.ObserveRefused(route, RefusalReason(err))
	if route == routeAnswer {
		h.obs.ObserveAnswer(OutcomeRefused, time.Since(start))
	}
}

// observeEvent reports an event webhook's result (event.go's deferred log).
func (h *Handler) observeEvent(in *eventRequest, status int, recorded bool, reason string, callErr error) {
	label := in.Status
	switch {
	case status >= 400 && status < 500:
		label = EventStatusInvalid
		if maskcall.IsCallStatus(in.Status) {
			label = in.Status
		}
	case in.Status == "":
		label = EventStatusNone
	case !maskcall.IsCallStatus(in.Status):
		label = EventStatusInvalid
	}
	result := EventIgnored
	switch {
	case status >= 500:
		result = EventError
		if callErr != nil && reason != "panic" {
			h.obs.ObserveStoreError(OpRecordCallEvent, maskcall.ErrorCode(callErr))
		}
	case status >= 400:
		result = EventRefused
	case recorded:
		result = EventRecorded
	}
	h.obs.ObserveEvent(label, result)
}
