package cli

import (
	"errors"
	"strings"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/spf13/cobra"
)

// Hints: the one place where an error's code and reason become advice in
// the CLI's words (flags, settings, commands). The domain and the adapters
// set codes and reasons only, so an API can give the same errors its own
// advice.

// hintKey selects advice: a code and a reason ("" for the code alone). A
// key with code "" matches the reason under any code, for reasons such as
// "not_linked" whose code comes from whatever failed.
type hintKey struct{ code, reason string }

// hintContext is where the error happened: advice names only flags the
// command that failed has.
type hintContext struct{ cmd *cobra.Command }

// has reports whether the failed command takes --name.
func (h hintContext) has(name string) bool {
	return h.cmd != nil && h.cmd.Flags().Lookup(name) != nil
}

// is reports whether the failed command is path, e.g. "numbers configure".
func (h hintContext) is(path string) bool {
	return h.cmd != nil && strings.TrimPrefix(h.cmd.CommandPath(), h.cmd.Root().Name()+" ") == path
}

// flag returns with if the failed command takes --name, else without.
func (h hintContext) flag(name, with, without string) string {
	if h.has(name) {
		return with
	}
	return without
}

type hintFunc func(h hintContext, e *maskcall.Error) string

// ifFlag is advice that makes sense only where --name exists.
func ifFlag(name, with string) hintFunc {
	return func(h hintContext, _ *maskcall.Error) string { return h.flag(name, with, "") }
}

func fixed(s string) hintFunc { return func(hintContext, *maskcall.Error) string { return s } }

// setting names a configuration key and the environment variable that sets
// it most commonly, e.g. "vonage.application_id (VONAGE_APPLICATION_ID)".
func setting(key string) string {
	k, ok := lookupKey(key)
	if !ok {
		return key
	}
	env := k.envNames()
	return key + " (" + env[len(env)-1] + ")"
}

var hints = map[hintKey]hintFunc{
	// Phone numbers.
	{maskcall.EINVALIDNUMBER, "national_form"}: func(h hintContext, _ *maskcall.Error) string {
		if h.has("country") {
			return "Write it in international form such as +44 7700 900123, or pass --country for a national form."
		}
		return "Write it in international form such as +44 7700 900123."
	},

	// The pool.
	{maskcall.ECONFLICT, "in_pool"}:             fixed("Run `maskcall numbers list` to see it."),
	{maskcall.EUNAVAILABLE, "purchase_unknown"}: fixed("The purchase may or may not have gone through; run `maskcall numbers reconcile` to check and finish it."),
	{maskcall.ECONFIG, "no_application"}: func(h hintContext, _ *maskcall.Error) string {
		if h.has("no-configure") {
			return "Set " + setting("vonage.application_id") + ", or pass --no-configure."
		}
		return "Set " + setting("vonage.application_id") + "."
	},
	{"", "not_linked"}: func(_ hintContext, e *maskcall.Error) string {
		if e.Code == maskcall.ECONFIG {
			return "Set " + setting("vonage.application_id") + ", then run `maskcall numbers configure`."
		}
		return "Run `maskcall numbers configure` to finish it."
	},
	{maskcall.EUPSTREAM, "too_few_offered"}: func(h hintContext, e *maskcall.Error) string {
		if h.has("count") {
			return "Try other --features or --type, or a smaller --count."
		}
		return "Rent numbers of another type with `maskcall numbers provision --country " + orCC(e.Fields["country"]) + "`."
	},
	{maskcall.ENOTFOUND, "not_in_pool"}: func(h hintContext, _ *maskcall.Error) string {
		if h.is("numbers configure") {
			return "Run `maskcall numbers import` to adopt numbers the account already owns."
		}
		return "Run `maskcall numbers list` to see the pool."
	},
	{maskcall.ECONFLICT, "purchase_pending"}: fixed("Run `maskcall numbers reconcile` to settle it first."),
	{maskcall.ECONFLICT, "in_use"}: func(h hintContext, _ *maskcall.Error) string {
		return h.flag("force", "End them first, or pass --force to end them and release the number.",
			"End them first with `maskcall conversation end`.")
	},
	{maskcall.EINVALID, "count"}: ifFlag("count", "Pass --count 1 or more."),

	// Callbacks.
	{maskcall.EINVALID, "callback_url"}: func(h hintContext, _ *maskcall.Error) string {
		return h.flag("callback-url", "Pass --callback-url as an absolute URL such as https://platform.example/maskcall.",
			"Give an absolute URL such as https://platform.example/maskcall.")
	},
	{maskcall.ECONFLICT, "callback_not_finished"}:   fixed("Wait for its delivery to finish; `maskcall callbacks list` shows where it is."),
	{maskcall.ECONFIG, "callbacks_secret"}:          fixed("Make one with `maskcall callbacks secret` and set " + setting("callbacks.secret") + "."),
	{maskcall.ECONFIG, "callbacks_url"}:             fixed("Fix " + setting("callbacks.url") + ": an absolute https URL of the platform's receiver."),
	{maskcall.ECONFIG, "callbacks_include_numbers"}: fixed("Set " + setting("callbacks.include_numbers") + " to true or false."),

	// API keys.
	{maskcall.EINVALID, "key_name"}: ifFlag("name", "Pick a --name of letters, digits, '-', '_' or '.', such as dispatch."),
	{maskcall.ECONFLICT, "key_name"}: func(h hintContext, _ *maskcall.Error) string {
		return h.flag("name", "Pick another --name, or revoke that key first with `maskcall apikey revoke NAME`.",
			"Revoke that key first with `maskcall apikey revoke NAME`.")
	},

	// Conversations.
	{maskcall.EEXHAUSTED, ""}: func(h hintContext, e *maskcall.Error) string {
		s := "Rent more with `maskcall numbers provision --country " + orCC(e.Fields["country"]) + " --count 1`"
		if h.has("auto-provision") && e.Reason != "provision_tried" && e.Fields["country"] != "" {
			return s + ", or pass --auto-provision."
		}
		return s + "."
	},
	{"", "insight_failed"}: func(h hintContext, _ *maskcall.Error) string {
		if h.has("insight") {
			return "Retry, or pass --insight none to skip the check."
		}
		return "Retry later."
	},
	{maskcall.ECONFIG, "insight_needs_key"}: func(h hintContext, _ *maskcall.Error) string {
		return "Set " + setting("vonage.application_id") + " and " + setting("vonage.private_key") +
			" (the application's private key file)" + h.flag("insight", ", or pass --insight none.", ".")
	},
	{maskcall.ECONFIG, "insight_retired"}: func(h hintContext, _ *maskcall.Error) string {
		return h.flag("insight", "Pass --insight format (needs the application's private key) or --insight none, and set ", "Set ") +
			setting("conversation.insight") + " to format, auto or none."
	},
	{maskcall.ECONFIG, "insight_setting"}: fixed("Fix " + setting("conversation.insight") + " in the configuration."),
	{maskcall.EINVALID, "ttl"}:            ifFlag("ttl", "Pass --ttl as a duration of at least 1m such as 2h or 7d, or 0 for none."),
	{maskcall.EINVALID, "label"}: func(h hintContext, e *maskcall.Error) string {
		name := "label-" + strings.ToLower(e.Fields["which"])
		return h.flag(name, "Fix --"+name+".", "")
	},
	{maskcall.EINVALID, "mode"}:         ifFlag("mode", "Pass --mode voice, sms or voice-and-sms."),
	{maskcall.EINVALID, "ref"}:          ifFlag("ref", "Fix --ref."),
	{maskcall.ECONFIG, "sms_template"}:  fixed("Fix " + setting("sms.template") + "; the default is: " + maskcall.DefaultSMSTemplate),
	{maskcall.EINVALID, "ended_before"}: ifFlag("ended-before", "Pass --ended-before as a positive duration such as 30d."),

	// The database.
	{maskcall.ECONFIG, "db_open"}: func(h hintContext, _ *maskcall.Error) string {
		return h.flag("db", "Check the path given by --db, MASKCALL_DB or db in maskcall.yaml.",
			"Check the path given by MASKCALL_DB or db in maskcall.yaml.")
	},
	{maskcall.ECONFIG, "no_database"}: func(h hintContext, _ *maskcall.Error) string {
		return h.flag("db", "Point --db or MASKCALL_DB at the existing one", "Point MASKCALL_DB at the existing one") +
			", or create it by renting numbers: `maskcall numbers provision --country GB --count 2`."
	},
	{maskcall.ESTORE, "locked"}:    fixed("Another process holds its write lock (serve under heavy load, a long purge, VACUUM, a sqlite3 shell); try again when it is done."),
	{maskcall.ESTORE, "readonly"}:  fixed("Run maskcall as the user that owns the database, or give this user write access to the file and its directory."),
	{maskcall.ESTORE, "disk_full"}: fixed("Free some disk space, then try again."),
	{maskcall.ESTORE, "io"}:        fixed("Check the disk, then try again."),

	// Vonage's refusals of maskcall's own settings.
	{maskcall.EVONAGEAUTH, "api_key"}:         fixed("Check " + setting("vonage.api_key") + " and " + setting("vonage.api_secret") + "."),
	{maskcall.EVONAGEAUTH, "application_key"}: fixed("Check vonage.application_id and vonage.private_key: the key must be the application's private key."),
	{"", "url"}: func(_ hintContext, e *maskcall.Error) string {
		return "Fix " + orDefault(e.Fields["setting"], "the Vonage URL") + " in the configuration."
	},
	{maskcall.EUPSTREAM, "foreign_application"}: fixed("Check " + setting("vonage.application_id") + ": it must be an application of this account."),
	{"", "application_id"}:                      fixed("Set " + setting("vonage.application_id") + " to the voice application's id."),
	{"", "private_key"}:                         fixed("Set " + setting("vonage.private_key") + " to the PEM private key Vonage gave for the application."),
}

// reconcileAdvice completes a reconcile action left to a person, by its
// reason.
var reconcileAdvice = map[string]string{
	"no_application": "none (vonage.application_id is not set)",
	"not_owned":      "none: check the Vonage dashboard, then `maskcall numbers release --force` it",
}

func orCC(cc string) string { return orDefault(cc, "CC") }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// hintFor returns the advice for err in context h: the table's entry for the
// first error in the chain with a reason the table knows, else the first
// adapter hint, else the table's entry for the outermost code alone.
func hintFor(h hintContext, err error) string {
	var outer *maskcall.Error
	for cur := err; cur != nil; {
		var e *maskcall.Error
		if !errors.As(cur, &e) {
			break
		}
		if outer == nil {
			outer = e
		}
		if e.Reason != "" {
			if f, ok := hints[hintKey{e.Code, e.Reason}]; ok {
				return f(h, e)
			}
			if f, ok := hints[hintKey{"", e.Reason}]; ok {
				return f(h, e)
			}
		}
		if e.Hint != "" {
			return e.Hint
		}
		cur = e.Err
	}
	if outer != nil {
		if f, ok := hints[hintKey{outer.Code, ""}]; ok {
			return f(h, outer)
		}
	}
	return ""
}

// userMessage is what the CLI prints for err: its message and the advice for
// it, one sentence each.
func userMessage(h hintContext, err error) string {
	var e *maskcall.Error
	if !errors.As(err, &e) {
		return maskcall.ErrorMessage(err)
	}
	if hint := hintFor(h, err); hint != "" {
		return e.Message + " " + hint
	}
	return e.Message
}

// advice is userMessage for errors reported on a status line, outside any
// one command's flags.
func advice(err error) string { return userMessage(hintContext{}, err) }
