package client

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"veil/client/internal/format"
	"veil/relay/conn"
	"veil/vault"
)

// descriptor builds the descriptor of our file message fm.
func descriptor(fm *fileMeta) (*format.FileDescriptor, error) {
	s, ok := fm.secret()
	if !ok || len(fm.SHA256) != 32 {
		return nil, failedf("its keys are missing")
	}
	d := &format.FileDescriptor{Slot: fm.Slot, Secret: s, Size: fm.Size, Chunks: fm.Chunks,
		Expires: fm.Expires, Type: fm.Type, Name: fm.Name}
	copy(d.SHA256[:], fm.SHA256)
	return d, nil
}

// uploaded queues the descriptor of a file whose chunks are all on the
// relay, in the transaction that marks it sent and drops its transfer
// record: the outbox (1:1) or the group's queue delivers it as any
// message (spec/client.md §7.3).
func (e *Engine) uploaded(ctx context.Context, j *fileJob) error {
	t := j.t
	finish := func(tx *vault.Tx, m *vault.Message) error {
		fm, mm := fileOf(m)
		fm.State, fm.Done, fm.Err = FileSent, fm.Chunks, ""
		setMeta(m, &mm)
		if err := tx.PutMessage(m); err != nil {
			return err
		}
		if err := tx.DeleteTransfer(t.ID); err != nil && !errors.Is(err, vault.ErrNotFound) {
			return err
		}
		return tx.PutFile(t.Chat, t.Message, vault.FileRecord{Blob: j.blob, Chunks: fm.Chunks, Complete: true})
	}
	load := func(tx *vault.Tx) (vault.Message, *format.FileDescriptor, error) {
		m, err := tx.Message(t.Chat, t.Message)
		if err != nil {
			return m, nil, errXferGone
		}
		fm, _ := fileOf(&m)
		if fm == nil {
			return m, nil, errXferGone
		}
		d, err := descriptor(fm)
		return m, d, err
	}
	w, _ := outgoingWireID(t.Message)
	if !j.group {
		err := e.withSession(ctx, t.Chat, func(tx *vault.Tx, s *txSession) error {
			m, d, err := load(tx)
			if err != nil {
				return err
			}
			fm, _ := fileOf(&m)
			if err := finish(tx, &m); err != nil {
				return err
			}
			// A chat restarting its session holds the descriptor as it
			// holds a text (spec/client.md §13.2); an out-of-date copy
			// sends nothing.
			if held, err := holdMessage(tx, t.Chat, &m); err != nil || held {
				return err
			}
			env := &format.Envelope{Type: format.EnvFile, ID: w, TTL: fm.TTL, File: d}
			return e.queue(tx, s.sess, t.Chat, t.Message, env)
		})
		if errors.Is(err, ErrOutdated) {
			return failedf("this copy of the profile is out of date and can no longer send in the chat")
		}
		if err != nil {
			return err
		}
		e.emit(ctx, Event{Type: EventTransfer, Chat: t.Chat, Message: t.Message, Status: FileSent, Done: j.fm.Chunks, Total: j.fm.Chunks, Bytes: j.fm.Size})
		e.kickOutbox()
		return nil
	}
	e.groups.Lock()
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		m, d, err := load(tx)
		if err != nil {
			return err
		}
		chat, grp, err := groupOf(tx, t.Chat)
		if err != nil {
			return errXferGone
		}
		g, rec, err := e.loadGroup(tx, chat.GroupID, &grp)
		if err != nil {
			return err
		}
		if g.cur.epoch == nil {
			return ErrGroupWaiting
		}
		fm, _ := fileOf(&m)
		env := &format.GroupEnvelope{Type: format.GenvFile, ID: w, TTL: fm.TTL, File: d}
		g.deferUploads = true
		if err := g.append(ctx, nil, env); err != nil {
			return err
		}
		g.out[len(g.out)-1].Msg = t.Message
		if err := putGroup(tx, chat.GroupID, g, rec); err != nil {
			return err
		}
		if fm.TTL > 0 {
			// Every member's copy is gone a timer after the descriptor
			// goes out (spec/client.md §8.5).
			if tk, ok := cdelTask(fm, t.Chat); ok {
				tk.NotBefore = e.now().Add(time.Duration(fm.TTL) * time.Second)
				if err := addTasks(tx, tk); err != nil {
					return err
				}
			}
		}
		return finish(tx, &m)
	})
	e.groups.Unlock()
	if err != nil {
		return err
	}
	e.emit(ctx, Event{Type: EventTransfer, Chat: t.Chat, Message: t.Message, Status: FileSent, Done: j.fm.Chunks, Total: j.fm.Chunks, Bytes: j.fm.Size})
	e.mu.Lock()
	running := e.groupKick != nil
	e.mu.Unlock()
	if running {
		e.groupsChanged()
		return nil
	}
	_ = e.withGroup(ctx, t.Chat, func(*groupState, *groupRecord, *conn.Conn, *vault.Chat) ([]Event, error) { return nil, nil })
	return nil
}

// fetchRelay returns the relay a file of chat c on slot is fetched from:
// in a 1:1 chat our own mailbox relay of that slot, in a group the
// group's relay of that index (spec/client.md §7.8). "" when we have
// none: the file is refused, never fetched from a relay the sender names.
func fetchRelay(tx *vault.Tx, c *vault.Chat, slot uint8) (string, error) {
	if c.Kind == vault.ChatGroup {
		grp, err := tx.Group(c.GroupID)
		if err != nil {
			return "", errXferGone
		}
		var rec struct {
			Relay  string   `json:"relay"`
			Relays []string `json:"relays"`
		}
		if err := json.Unmarshal(grp.State, &rec); err != nil {
			return "", errors.New("client: corrupt group record")
		}
		if int(slot) < len(rec.Relays) {
			return rec.Relays[slot], nil
		}
		if slot == 0 {
			return rec.Relay, nil
		}
		return "", nil
	}
	ct, err := tx.Contact(c.ContactID)
	if err != nil {
		return "", errXferGone
	}
	for _, rc := range liveRecv(&ct) {
		if rc.Slot == slot {
			return rc.Address, nil
		}
	}
	return "", nil
}

// sendRelay returns the slot and relay our file to chat c goes to: in a
// 1:1 chat the peer's mailbox relay of its first slot (the relay our
// messages go to), in a group the group's primary relay.
func (e *Engine) sendRelay(tx *vault.Tx, c *vault.Chat) (uint8, string, error) {
	if c.Kind == vault.ChatGroup {
		r, err := fetchRelay(tx, c, 0)
		if err == nil && r == "" {
			err = errors.New("client: the group has no relay")
		}
		return 0, r, err
	}
	ct, err := tx.Contact(c.ContactID)
	if err != nil {
		return 0, "", err
	}
	ss := sendSlots(&ct)
	if len(ss) == 0 {
		return 0, "", errors.New("client: the chat has no mailbox of the peer's yet")
	}
	best := ss[0]
	for _, sc := range ss[1:] {
		if sc.Slot < best.Slot {
			best = sc
		}
	}
	return best.Slot, best.Address, nil
}
