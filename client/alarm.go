package client

import (
	"context"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/relay/conn"
	"veil/relay/wire"
	"veil/vault"
)

// The invite's leak alarm (spec/client.md §4.4). The inviter creates an
// alarm log on the invite's relay before the invite key exists, so nobody
// else can hold the key yet, and names the log in the key. Every key
// holder can append to it (the write capability comes from the secret);
// only the inviter can read it (its read capability is the inviter's
// own). A joiner who finds the blob gone appends the alarm. A copier who
// holds the key can append too, or delete the log with the same
// capability, but it cannot keep the alarm out: the inviter takes an
// entry, and the log gone before the invite's end, as the alarm.

// alarmLeakedText is what the inviter is told when the alarm fires.
const alarmLeakedText = "someone else tried to use this chat's invite key: it leaked; compare the safety code before trusting this chat"

// newAlarmLog creates the alarm log of the invite k, whose secret derived
// d, on c, and names it in k. life is the invite's lifetime. It returns
// the log's read capability, which must be kept secret.
func (e *Engine) newAlarmLog(ctx context.Context, c *conn.Conn, k *format.InviteKey, d *format.InviteIDs, life time.Duration) ([wire.CapSize]byte, error) {
	var read [wire.CapSize]byte
	if err := e.random(read[:]); err != nil {
		return read, err
	}
	cctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	// The relay's password, if it has one, travels in the key.
	id, err := c.NewLog(cctx, &d.AlarmWrite, &read, life+alarmLife, k.Relay.Password)
	if err != nil {
		return read, err
	}
	k.HasAlarm, k.AlarmLog = true, id
	return read, nil
}

// alarmFired reports whether the alarm log id fired: it holds an entry,
// or it is gone (the relay answers AUTH for a log it does not know, and
// our read capability is right).
func alarmFired(ctx context.Context, c *conn.Conn, id crypto.ID, read []byte) (bool, error) {
	if len(read) != wire.CapSize {
		return false, nil
	}
	cctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	es, err := c.ReadLog(cctx, id, (*[wire.CapSize]byte)(read), 0, 1)
	switch {
	case isCode(err, wire.CodeAuth), isCode(err, wire.CodeNotFound):
		return true, nil
	case err != nil:
		return false, err
	}
	return len(es) > 0, nil
}

// dropAlarmLog deletes an alarm log whose invite has ended. Best effort:
// its entries expire anyway.
func dropAlarmLog(ctx context.Context, c *conn.Conn, id crypto.ID, write []byte) {
	if len(write) != wire.CapSize {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	_ = c.DeleteLog(cctx, id, (*[wire.CapSize]byte)(write))
}

// raiseAlarm leaves the leak alarm for the inviter of k, whose secret
// derived d: an entry in its alarm log, or for an older key without one,
// a one-time blob under the alarm ID d names. It goes like any item for
// someone else's relay, through the forwarder when private routing says
// so (spec/client.md §7.7): whoever took the invite may watch the
// inviter's relay for the joiner's address. Best effort: failures are
// ignored.
func (e *Engine) raiseAlarm(ctx context.Context, k *format.InviteKey, d *format.InviteIDs) {
	c, err := e.deliver(ctx, k.Relay.String(), "")
	if err != nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	var stamp [8]byte
	if k.HasAlarm {
		body, err := format.SealBlob(&d.AlarmLogKey, k.AlarmLog, stamp[:], format.LabelAlarmEntryAD, e.cfg.Rand)
		if err == nil {
			_, _ = c.Append(cctx, k.AlarmLog, &d.AlarmWrite, body)
		}
		return
	}
	body, err := format.SealBlob(&d.AlarmKey, d.AlarmID, stamp[:], format.LabelAlarmAD, e.cfg.Rand)
	if err == nil {
		_ = c.Put(cctx, d.AlarmID, alarmLife, k.Relay.Password, body)
	}
}

// joinRefusedText tells a joiner whose first message the inviter's
// mailbox refused because someone else secured it first.
const joinRefusedText = "someone else used this invite key before you: it leaked, and this chat cannot start; the inviter has been warned; ask them for a new invite over a private channel"

// noteSKeyTaken records that the inviter's mailbox answered our SKEY
// with ALREADY_SECURED: our own lost SKEY, or someone else's.
func (e *Engine) noteSKeyTaken(ctx context.Context, chat string) {
	_ = e.v.Update(ctx, func(tx *vault.Tx) error {
		m, err := getMeta(tx, chat)
		if err != nil || m.SKeyTaken {
			return err
		}
		m.SKeyTaken = true
		return putMeta(tx, chat, &m)
	})
}

// joinAccepted forgets the invite key once the inviter's mailbox took our
// first message: the mailbox is ours.
func (e *Engine) joinAccepted(ctx context.Context, chat string) {
	_ = e.v.Update(ctx, func(tx *vault.Tx) error {
		m, err := getMeta(tx, chat)
		if err != nil {
			return err
		}
		m.JoinKey, m.SKeyTaken = "", false
		return putMeta(tx, chat, &m)
	})
}

// joinRefused handles AUTH on our first message to an inviter. After an
// SKEY that answered ALREADY_SECURED it means someone else secured the
// inviter's mailbox with the same invite (spec/client.md §4.4): we raise
// the leak alarm for the inviter and tell our user. Otherwise the
// mailbox is gone, which the failed message already says.
func (e *Engine) joinRefused(ctx context.Context, chat string) {
	var m chatMeta
	var name string
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		var err error
		if m, err = getMeta(tx, chat); err != nil {
			return err
		}
		if ch, err := tx.Chat(chat); err == nil {
			name = ch.Name
		}
		n := m
		n.JoinKey, n.SKeyTaken = "", false
		n.Leaked = n.Leaked || m.SKeyTaken
		return putMeta(tx, chat, &n)
	})
	if err != nil || !m.SKeyTaken {
		return
	}
	if k, err := format.ParseInviteKey(m.JoinKey); err == nil {
		d := format.DeriveInvite(k)
		e.raiseAlarm(ctx, k, &d)
	}
	e.emit(ctx, Event{Type: EventInviteLeaked, Chat: chat, Name: SanitizeLine(name), Err: joinRefusedText})
}
