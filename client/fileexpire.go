package client

import (
	"context"
	"errors"
	"strconv"
	"strings"
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

// settingOfferDue + chat ID is the profile setting holding that
// deadline (Unix s); erasing the chat deletes it with its other settings
// (deleteMeta).
const settingOfferDue = "files/offer_due/"

// offerRecheck is how long after its deadline a file still downloading
// is looked at again: its download ends ready or failed meanwhile.
const offerRecheck = time.Hour

// noteOfferDue records that chat has a file, not yet fetched, whose
// chunks end at expires (Unix s).
func noteOfferDue(tx *vault.Tx, chat string, expires int64) error {
	p, err := profile(tx)
	if err != nil {
		return err
	}
	if d, err := strconv.ParseInt(p.Settings[settingOfferDue+chat], 10, 64); err == nil && d <= expires {
		return nil
	}
	p.Settings[settingOfferDue+chat] = strconv.FormatInt(expires, 10)
	return tx.PutProfile(&p)
}

// settingOfferScan marks a profile whose chats have all been noted for
// one look at their offered files: files received before deadlines were
// noted have none, and would keep S for as long as their message lives.
const settingOfferScan = "files/offer_scan"

// noteOldOffers, once per profile, marks every chat due now, so that the
// next sweep reads each chat's files once and notes its real deadline.
func noteOldOffers(tx *vault.Tx) error {
	p, err := tx.Profile()
	if errors.Is(err, vault.ErrNotFound) {
		return nil // not set up yet: no offers, and no record to make here
	}
	if err != nil || p.Settings[settingOfferScan] != "" {
		return err
	}
	if p.Settings == nil {
		p.Settings = map[string]string{}
	}
	chats, err := tx.Chats()
	if err != nil {
		return err
	}
	for _, c := range chats {
		if _, ok := p.Settings[settingOfferDue+c.ID]; !ok {
			p.Settings[settingOfferDue+c.ID] = "0"
		}
	}
	p.Settings[settingOfferScan] = "1"
	return tx.PutProfile(&p)
}

// dueOffers returns the chats whose noted deadline is at or before now.
func dueOffers(tx *vault.Tx, now time.Time) ([]string, error) {
	p, err := profile(tx)
	if err != nil {
		return nil, err
	}
	var chats []string
	for k, v := range p.Settings {
		chat, ok := strings.CutPrefix(k, settingOfferDue)
		if !ok {
			continue
		}
		if d, err := strconv.ParseInt(v, 10, 64); err != nil || now.Unix() >= d {
			chats = append(chats, chat)
		}
	}
	return chats, nil
}

// expireOffers turns every file not fetched before its chunks' deadline
// into "expired" and drops its S, in the chats whose earliest such
// deadline has passed.
func (e *Engine) expireOffers(ctx context.Context, now time.Time) error {
	scanned := true
	if err := e.v.View(ctx, func(tx *vault.Tx) error {
		p, err := tx.Profile()
		if errors.Is(err, vault.ErrNotFound) {
			return nil // not set up yet: nothing to scan
		}
		scanned = p.Settings[settingOfferScan] != ""
		return err
	}); err != nil {
		return err
	}
	if !scanned {
		if err := e.v.Update(ctx, noteOldOffers); err != nil {
			return err
		}
	}
	var chats []string
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		var err error
		chats, err = dueOffers(tx, now)
		return err
	})
	if err != nil || len(chats) == 0 {
		return err
	}
	var evs []Event
	err = e.v.Update(ctx, func(tx *vault.Tx) error {
		for _, chat := range chats {
			next, ev, err := expireChatOffers(tx, chat, now)
			if err != nil {
				return err
			}
			evs = append(evs, ev...)
			p, err := profile(tx)
			if err != nil {
				return err
			}
			if next == 0 {
				delete(p.Settings, settingOfferDue+chat)
			} else {
				p.Settings[settingOfferDue+chat] = strconv.FormatInt(next, 10)
			}
			if err := tx.PutProfile(&p); err != nil {
				return err
			}
		}
		return nil
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
