package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay"
	"veil/vault"
)

// TestExplain checks Explain on errors made the way the engine makes
// them: each gets its kind and a sentence with no package prefix, Go
// formatting slip, relay fingerprint or unsanitised peer string.
func TestExplain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := testEngine(t, nil) // its relay, testRelayAddr, is a closed port
	fp := testRelayAddr[strings.IndexByte(testRelayAddr, '#')+1:]
	ana, ben, chat := pair(t, nil, nil)
	vopts := vault.Options{KDF: crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}, GCInterval: -1, MemTableSize: testMemTableSize}

	pwRelay := startGroupRelay(t, func(c *relay.Config) { c.Password = []byte("sesame") }).String()
	gAna, gBen, gid, bid, _ := twoMembers(t, startGroupRelay(t).String())
	_ = gAna

	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	noRelay, err := Create(ctx, Config{Dir: t.TempDir(), Vault: vopts}, []byte("test pin"), CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { noRelay.Close() })

	second := func(_ string, err error) error { return err }
	third := func(_, _ string, err error) error { return err }
	cases := []struct {
		name string
		err  error
		kind string
		want string // a part of the message
	}{
		{"dial a closed port", third(e.Invite(ctx, InviteOptions{})), KindRelayUnreachable, "127.0.0.1:1 cannot be reached"},
		{"check a closed port", e.CheckRelay(ctx, testRelayAddr), KindRelayUnreachable, "messages wait in the outbox"},
		{"cancelled dial", third(e.Invite(cancelled, InviteOptions{})), KindCancelled, "cancelled"},
		{"relay password", third(e.Invite(ctx, InviteOptions{Relay: pwRelay})), KindRelayRefused, "needs a password: veil relay add ADDRESS --password-file FILE (ask its operator)"},
		{"no profile", func() error {
			_, err := Open(ctx, Config{Dir: t.TempDir(), Vault: vopts}, []byte("test pin"))
			return err
		}(), KindNoProfile, "veil init"},
		{"busy", func() error {
			_, err := Open(ctx, Config{Dir: e.cfg.Dir, Vault: vopts}, []byte("test pin"))
			return err
		}(), KindBusy, "another veil process"},
		{"wrong PIN", func() error {
			dir := t.TempDir()
			x, err := Create(ctx, Config{Dir: dir, Vault: vopts}, []byte("test pin"), CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			x.Close()
			_, err = Open(ctx, Config{Dir: dir, Vault: vopts}, []byte("not the pin"))
			return err
		}(), KindWrongPIN, "wrong PIN"},
		{"current PIN wrong", e.ChangePIN(ctx, []byte("not the pin"), []byte("new pin 1")), KindWrongPIN, "nothing was changed"},
		{"backoff", fmt.Errorf("unlocking: %w", &vault.BackoffError{Wait: 90 * time.Second}), KindBackoff, "wait 1m30s before trying again"},
		{"erased", vault.ErrErased, KindErased, "erased"},
		{"locked", fmt.Errorf("client: %w", vault.ErrLocked), KindLocked, "veil unlock"},
		{"no chat", second(e.Send(ctx, "nobody\x1b[31m", "hi", SendOptions{})), KindNoChat, `no chat is called "nobody" (veil chats lists them)`},
		{"no message", ben.Edit(ctx, chat, "0123456789abcdef", "x"), KindNoMessage, "no message with that id"},
		{"not joined", second(ana.Send(ctx, chat, "hi", SendOptions{})), KindNotJoined, "nobody has used"},
		{"too long", second(ben.Send(ctx, chat, strings.Repeat("x", MaxText+1), SendOptions{})), KindTooLong, fmt.Sprintf("(%d bytes, at most %d)", MaxText+1, MaxText)},
		{"bad invite key", second(e.Join(ctx, "veil1notakey", JoinOptions{})), KindBadInviteKey, "typo"},
		{"duress PIN equal to the PIN", e.SetDuressPIN(ctx, []byte("test pin"), []byte("test pin"), 0), KindBadInput, "the duress PIN must differ from the unlock PIN"},
		{"invite used", ErrInviteUsed, KindInviteUsed, "already used"},
		{"bad duration", func() error { _, err := ParseDuration("7 weeks"); return err }(), KindBadInput, "is not a duration"},
		{"bad relay address", e.AddRelay(ctx, "veil://nowhere"), KindBadInput, "not a relay address: relay address has no #fingerprint"},
		{"name too long", e.Rename(ctx, chat, strings.Repeat("n", 1000)), KindBadInput, "a chat name is at most"},
		{"no relay", third(noRelay.Invite(ctx, InviteOptions{})), KindNoRelay, "veil relay add"},
		{"not an admin", gBen.GroupRemove(ctx, bid, "ana"), KindNotAllowed, "not an admin of river"},
		{"group timer", gAna.SetTimer(ctx, gid, time.Hour), KindBadInput, "an admin changes it with group set"},
		{"waiting", fmt.Errorf("client: sending: %w", ErrGroupWaiting), KindWaiting, "waiting for an admin"},
		{"removed", &removedError{name: "river\x1b]0;pwned\x07", by: "ana"}, KindRemoved, "you were removed from river by ana"},
		{"deadline", fmt.Errorf("client: reading: %w", context.DeadlineExceeded), KindCancelled, "timed out"},
		{"internal", fmt.Errorf("client: storing: %w", fmt.Errorf("vault: badger: %w", errors.New("disk on fire"))), KindInternal, "something went wrong: disk on fire"},
		{"own words", fmt.Errorf("no profile in /home/x: %w", errors.New("the two entries differ")), KindInternal, "no profile in /home/x: the two entries differ"},
		{"internal with detail", fmt.Errorf("client: %w: detail here", errors.New("format: bad thing")), KindInternal, "bad thing: detail here"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("no error")
			}
			p := Explain(tc.err)
			t.Logf("%s: %s (from %v)", p.Kind, p.Message, tc.err)
			if p.Kind != tc.kind {
				t.Errorf("kind %q, want %q (error %v)", p.Kind, tc.kind, tc.err)
			}
			if !strings.Contains(p.Message, tc.want) {
				t.Errorf("message %q, want it to contain %q", p.Message, tc.want)
			}
			for _, bad := range []string{"client:", "conn:", "vault:", "wire:", "%!", fp, "\x1b", "\x07", "sesame"} {
				if strings.Contains(p.Message, bad) {
					t.Errorf("message %q contains %q", p.Message, bad)
				}
			}
		})
	}
	if p := Explain(nil); p != (Problem{}) {
		t.Errorf("Explain(nil) = %+v", p)
	}
}

// TestRelayErrorKeepsErrorsIs checks that a RelayError lets callers still
// branch on the relay's code and on context errors.
func TestRelayErrorKeepsErrorsIs(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("client: taking the invite: %w", relayErr(testRelayAddr, context.DeadlineExceeded))
	var re *RelayError
	if !errors.As(err, &re) || re.Relay != "127.0.0.1:1" || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v: RelayError %+v", err, re)
	}
	if strings.Contains(err.Error(), "AAAA") {
		t.Fatalf("%v names the fingerprint", err)
	}
	if relayCause(testRelayAddr, ErrNoChat) != ErrNoChat {
		t.Fatal("relayCause wrapped an error that is not the relay's")
	}
}
