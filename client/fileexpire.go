package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"veil/vault"
)

// An offered file whose chunks pass their deadline before it is fetched
// becomes "expired" and loses its file secret S (spec/client.md §5.16):
// the chunks' lifetime has ended, so nothing on a relay needs deleting,
// and a relay that kept them anyway keeps ciphertext useless without S.
// The sweep runs every second, so it does not read every message: the
// profile keeps, per chat, the earliest deadline of a file received and
// not yet fetched, and the sweep reads a chat's messages only once that
// deadline has passed.

// settingOfferDue is the profile setting holding that map: chat ID to a
// Unix time.
const settingOfferDue = "files/offer_due"

// offerRecheck is how long after its deadline a file still downloading
// is looked at again: its download ends ready or failed meanwhile.
const offerRecheck = time.Hour

func getOfferDue(p *vault.Profile) (map[string]int64, error) {
	due := map[string]int64{}
	if s := p.Settings[settingOfferDue]; s != "" {
		if err := json.Unmarshal([]byte(s), &due); err != nil {
			return nil, fmt.Errorf("client: corrupt file deadlines: %w", err)
		}
	}
	return due, nil
}

func putOfferDue(tx *vault.Tx, due map[string]int64) error {
	p, err := profile(tx)
	if err != nil {
		return err
	}
	if len(due) == 0 {
		delete(p.Settings, settingOfferDue)
	} else {
		b, err := json.Marshal(due)
		if err != nil {
			return err
		}
		p.Settings[settingOfferDue] = string(b)
	}
	return tx.PutProfile(&p)
}

// noteOfferDue records that chat has a file, not yet fetched, whose
// chunks end at expires (Unix s).
func noteOfferDue(tx *vault.Tx, chat string, expires int64) error {
	p, err := profile(tx)
	if err != nil {
		return err
	}
	due, err := getOfferDue(&p)
	if err != nil {
		return err
	}
	if d, ok := due[chat]; ok && d <= expires {
		return nil
	}
	due[chat] = expires
	return putOfferDue(tx, due)
}

// offerDueTimes is noteOfferDue's map, for the sweep's look without a
// write.
func offerDueTimes(tx *vault.Tx) (map[string]int64, error) {
	p, err := profile(tx)
	if err != nil {
		return nil, err
	}
	return getOfferDue(&p)
}

// expireOffers turns every file not fetched before its chunks' deadline
// into "expired" and drops its S, in the chats whose earliest such
// deadline has passed.
func (e *Engine) expireOffers(ctx context.Context, now time.Time) error {
	var chats []string
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		due, err := offerDueTimes(tx)
		for chat, t := range due {
			if now.Unix() >= t {
				chats = append(chats, chat)
			}
		}
		return err
	})
	if err != nil || len(chats) == 0 {
		return err
	}
	var evs []Event
	err = e.v.Update(ctx, func(tx *vault.Tx) error {
		due, err := offerDueTimes(tx)
		if err != nil {
			return err
		}
		for _, chat := range chats {
			next, ev, err := expireChatOffers(tx, chat, now)
			if err != nil {
				return err
			}
			evs = append(evs, ev...)
			if next == 0 {
				delete(due, chat)
			} else {
				due[chat] = next
			}
		}
		return putOfferDue(tx, due)
	})
	if err != nil {
		return err
	}
	for _, ev := range evs {
		e.emit(ctx, ev)
	}
	return nil
}

// expireChatOffers expires chat's files that are due; it returns the next
// deadline to look at (0: none).
func expireChatOffers(tx *vault.Tx, chat string, now time.Time) (int64, []Event, error) {
	ms, err := tx.Messages(chat, 0)
	if errors.Is(err, vault.ErrNotFound) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	var next int64
	later := func(t int64) {
		if next == 0 || t < next {
			next = t
		}
	}
	var evs []Event
	for i := range ms {
		m := &ms[i]
		fm, mm := fileOf(m)
		if fm == nil || m.Direction != vault.Incoming || fm.Expires == 0 {
			continue
		}
		switch fm.State {
		case FileOffered, FileFailed:
		case FileDownloading:
			if now.Unix() >= fm.Expires {
				later(now.Add(offerRecheck).Unix())
			} else {
				later(fm.Expires)
			}
			continue
		default:
			continue
		}
		if now.Unix() < fm.Expires {
			later(fm.Expires)
			continue
		}
		clear(fm.Secret)
		fm.State, fm.Secret, fm.Err, fm.Done = FileExpired, nil, "", 0
		setMeta(m, &mm)
		if err := tx.PutMessage(m); err != nil {
			return 0, nil, err
		}
		evs = append(evs, Event{Type: EventTransfer, Chat: chat, Message: m.ID, Status: FileExpired, Total: fm.Chunks})
	}
	return next, evs, nil
}
