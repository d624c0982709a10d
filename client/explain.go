package client

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"veil/relay/conn"
	"veil/relay/wire"
	"veil/vault"
)

// Problem is an error said in the user's words (spec/client.md §10.3).
type Problem struct {
	Kind    string // stable machine-readable kind, lower_snake
	Message string // one sentence for a person: no package prefixes, no Go error chains, no secrets
}

// Kinds of Problem. They are stable: the local API and scripts branch on
// them.
const (
	KindNoProfile        = "no_profile"
	KindErased           = "erased"
	KindWrongPIN         = "wrong_pin"
	KindBackoff          = "backoff"
	KindBusy             = "busy"
	KindLocked           = "locked"
	KindNoChat           = "no_chat"
	KindNoMessage        = "no_message"
	KindInviteUsed       = "invite_used"
	KindBadInviteKey     = "bad_invite_key"
	KindNotJoined        = "not_joined"
	KindWaiting          = "waiting"
	KindRemoved          = "removed"
	KindNotAllowed       = "not_allowed"
	KindTooLong          = "too_long"
	KindRelayUnreachable = "relay_unreachable"
	KindRelayRefused     = "relay_refused"
	KindNoRelay          = "no_relay"
	KindBadInput         = "bad_input"
	KindCancelled        = "cancelled"
	KindInternal         = "internal"
)

// Explain says what err means for the user and what they can do. The
// Message holds no package prefix, no relay fingerprint or password, and
// no peer string that was not sanitised; the full error is for --verbose
// only. Explain(nil) is the zero Problem.
func Explain(err error) Problem {
	if err == nil {
		return Problem{}
	}
	p := explain(err)
	p.Message = SanitizeLine(p.Message)
	return p
}

func explain(err error) Problem {
	var (
		boe *vault.BackoffError
		ue  *userError
		nce *noChatError
		rme *removedError
		re  *RelayError
		pe  *PasswordError
		we  *wire.Error
	)
	switch {
	case errors.Is(err, vault.ErrNoProfile):
		return Problem{KindNoProfile, "there is no profile here: veil init creates one"}
	case errors.Is(err, vault.ErrErased):
		return Problem{KindErased, "this profile was erased: its data is gone for good (veil init makes a new one)"}
	case errors.Is(err, ErrWrongPIN):
		return Problem{KindWrongPIN, "the current PIN is wrong; nothing was changed"}
	case errors.Is(err, vault.ErrWrongPIN):
		return Problem{KindWrongPIN, "wrong PIN"}
	case errors.As(err, &boe):
		return Problem{KindBackoff, "too many wrong PINs: wait " + waitWords(boe.Wait) + " before trying again"}
	case errors.Is(err, vault.ErrBackoff):
		return Problem{KindBackoff, "too many wrong PINs: wait a while before trying again"}
	case errors.Is(err, vault.ErrBusy):
		return Problem{KindBusy, "the profile is open in another veil process: close it (or use its panic key) and try again"}
	case errors.Is(err, vault.ErrLocked):
		return Problem{KindLocked, "this profile is locked: run veil unlock"}
	case errors.Is(err, vault.ErrExists):
		return Problem{KindBadInput, "this directory already holds a profile"}
	case errors.Is(err, vault.ErrBadPIN):
		return Problem{KindBadInput, badPINWords(err)}
	case errors.As(err, &nce):
		return Problem{KindNoChat, fmt.Sprintf("no chat is called %q (veil chats lists them)", SanitizeLine(nce.ref))}
	case errors.Is(err, ErrNoChat):
		return Problem{KindNoChat, "no such chat (veil chats lists them)"}
	case errors.Is(err, ErrNoMessage):
		return Problem{KindNoMessage, "this chat has no message with that id (veil read CHAT shows the ids)"}
	case errors.Is(err, ErrInviteUsed):
		return Problem{KindInviteUsed, "this invite was already used or has expired: the key reached someone else or came too late; ask for a new one over another channel"}
	case errors.Is(err, ErrBadInviteKey):
		return Problem{KindBadInviteKey, "this is not a valid invite key: check it for a typo"}
	case errors.Is(err, ErrNotJoined):
		return Problem{KindNotJoined, "nobody has used this chat's invite yet: messages can be sent once they join"}
	case errors.Is(err, ErrGroupWaiting):
		return Problem{KindWaiting, "waiting for an admin to let you in"}
	case errors.As(err, &rme):
		return Problem{KindRemoved, removedNotice(rme.name, rme.by, rme.moved)}
	case errors.Is(err, ErrGroupRemoved):
		return Problem{KindRemoved, "you were removed from this group; its history is kept read-only until you burn it"}
	case errors.Is(err, ErrNoRelay):
		return Problem{KindNoRelay, "no relay is configured: add one with veil relay add URL"}
	case errors.As(err, &ue):
		switch ue.kind {
		case errNotAllowed:
			return Problem{KindNotAllowed, ue.msg}
		case errTooLong:
			return Problem{KindTooLong, ue.msg}
		}
		return Problem{KindBadInput, ue.msg}
	case errors.Is(err, context.Canceled):
		return Problem{KindCancelled, "cancelled before it finished"}
	case errors.As(err, &pe):
		return Problem{KindRelayRefused, pe.words()}
	case errors.As(err, &re):
		return explainRelay(re)
	case errors.Is(err, context.DeadlineExceeded):
		return Problem{KindCancelled, "timed out before it finished: try again"}
	case errors.As(err, &we):
		return Problem{KindRelayRefused, "a relay " + codeWords(we.Code)}
	case errors.Is(err, errLogHeld):
		return Problem{KindRelayRefused, "the group's relay sent a reply that was refused: " + innermost(err)}
	}
	if text := err.Error(); !hasPrefix(text) {
		// Already a sentence for a person (a command's own words).
		return Problem{KindInternal, fingerprintRE.ReplaceAllString(text, "#…")}
	}
	return Problem{KindInternal, "something went wrong: " + innermost(err)}
}

// hasPrefix reports whether s holds a "pkg: " segment of a Go error
// chain anywhere.
func hasPrefix(s string) bool {
	segs := strings.Split(s, ": ")
	for _, seg := range segs[:len(segs)-1] {
		if seg == "" || isPrefixWord(seg) {
			return true
		}
	}
	return false
}

// explainRelay says what happened on one relay: a refusal with its
// meaning, or a failure to reach it and what becomes of queued messages.
func explainRelay(re *RelayError) Problem {
	at := "the relay at " + re.Relay
	if code, ok := relayCode(re.Err); ok {
		return Problem{KindRelayRefused, at + " " + codeWords(code)}
	}
	if errors.Is(re.Err, conn.ErrBadReply) {
		return Problem{KindRelayRefused, at + " sent a reply veil does not understand (a broken or misbehaving relay): try again later or use another relay"}
	}
	why := innermost(re.Err)
	if errors.Is(re.Err, context.DeadlineExceeded) {
		why = "no answer in time"
	}
	return Problem{KindRelayUnreachable, at + " cannot be reached (" + why + "); messages wait in the outbox and go out once it is back"}
}

// codeWords says what a relay's error code means, after "the relay at X".
func codeWords(c wire.Code) string {
	switch c {
	case wire.CodePassword:
		return "needs a password to create mailboxes: veil relay add ADDRESS --password-file FILE (ask its operator), or use another relay"
	case wire.CodeQuota:
		return "refused: a mailbox or log there is full (QUOTA); it frees up as messages are read, or use another relay"
	case wire.CodeStorageFull:
		return "is out of storage space (STORAGE_FULL): try again later or use another relay"
	case wire.CodeRate:
		return "says veil sent too many requests (RATE): wait a minute and try again"
	case wire.CodeAuth:
		return "refused a key or capability (AUTH): the chat may have been burned on the other side"
	case wire.CodeNotFound:
		return "no longer has what was asked for (NOT_FOUND): it expired or was already taken"
	case wire.CodeShutdown:
		return "is shutting down (SHUTDOWN): try again in a moment"
	case wire.CodeInternal:
		return "had an internal error (INTERNAL): try again later"
	}
	return "refused the request (" + c.String() + ")"
}

// badPINWords says why vault refused a new PIN: the detail after
// ErrBadPIN's own text, which says what is wrong with it.
func badPINWords(err error) string {
	text, sentinel := err.Error(), vault.ErrBadPIN.Error()+": "
	if i := strings.Index(text, sentinel); i >= 0 {
		return text[i+len(sentinel):]
	}
	return fmt.Sprintf("the PIN must be at least %d characters (a passphrase is far stronger)", vault.MinPINLen)
}

// waitWords says a back-off wait in whole seconds or more.
func waitWords(d time.Duration) string {
	d = max(d.Round(time.Second), time.Second)
	return FormatDuration(d)
}

// innermost returns the text of the deepest error in err's chain (with
// the detail a wrapper added after it, as in "%w: detail"), without
// "pkg: " prefixes and with anything that looks like a relay fingerprint cut.
func innermost(err error) string {
	chain := []error{err}
	for {
		var next error
		switch u := chain[len(chain)-1].(type) {
		case interface{ Unwrap() error }:
			next = u.Unwrap()
		case interface{ Unwrap() []error }:
			if es := u.Unwrap(); len(es) > 0 {
				next = es[0]
			}
		}
		if next == nil || len(chain) > 64 {
			break
		}
		chain = append(chain, next)
	}
	text := chain[len(chain)-1].Error()
	if len(chain) > 1 {
		if parent := chain[len(chain)-2].Error(); strings.Contains(parent, text+": ") {
			text = parent[strings.Index(parent, text+": "):]
		}
	}
	text = stripPrefixes(text)
	text = fingerprintRE.ReplaceAllString(text, "#…")
	if text == "" {
		return "no detail"
	}
	return text
}

// fingerprintRE matches what could be a relay fingerprint after '#'.
var fingerprintRE = regexp.MustCompile(`#[A-Za-z0-9_-]{16,}`)

// stripPrefixes drops leading "word: " segments, the package and
// operation names Go errors start with ("conn: dial: …").
func stripPrefixes(s string) string {
	for {
		i := strings.Index(s, ": ")
		if i <= 0 || !isPrefixWord(s[:i]) {
			return s
		}
		s = s[i+2:]
	}
}

func isPrefixWord(w string) bool {
	for _, r := range w {
		if !(unicode.IsLower(r) || unicode.IsDigit(r) || r == '_' || r == '/' || r == '.') {
			return false
		}
	}
	return true
}
