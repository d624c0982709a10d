package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"veil/client/internal/format"
	"veil/vault"
)

// The client keeps a little state of its own beside the vault's typed
// records, in the profile's Settings map (spec/client.md §11): per-chat
// metadata as JSON under "chat/ID", the relay list, and pending network
// tasks. The vault encrypts all of it.

const (
	settingDefaultRelay = "relay/default"
	settingRelays       = "relay/list"
	settingTasks        = "tasks"
	settingChatPrefix   = "chat/"
)

// chatMeta is what the client keeps per chat beyond vault.Chat.
type chatMeta struct {
	As           string           `json:"as,omitempty"`            // the nickname the peer sees
	ReadReceipts bool             `json:"read_receipts,omitempty"` // off by default
	Pending      bool             `json:"pending,omitempty"`       // our invite, nobody joined yet
	InviteUntil  time.Time        `json:"invite_until,omitzero"`   // the invite blob's deadline
	InviteKey    string           `json:"invite_key,omitempty"`    // inviter: our invite key while pending (secret)
	AlarmID      []byte           `json:"alarm_id,omitempty"`      // an older invite's alarm blob, spec/client.md §4.4
	AlarmLog     []byte           `json:"alarm_log,omitempty"`     // our invite's alarm log, spec/client.md §4.4
	AlarmRead    []byte           `json:"alarm_read,omitempty"`    // its read capability (secret)
	AlarmWrite   []byte           `json:"alarm_write,omitempty"`   // its write capability, to delete it (secret)
	JoinKey      string           `json:"join_key,omitempty"`      // joiner: the invite key until our first message is in (secret)
	SKeyTaken    bool             `json:"skey_taken,omitempty"`    // joiner: SKEY answered ALREADY_SECURED
	Leaked       bool             `json:"leaked,omitempty"`        // our invite key was used twice
	NeedSKey     bool             `json:"need_skey,omitempty"`     // joiner: the inviter's mailbox is not yet secured by us
	SKeyDone     uint8            `json:"skey_done,omitempty"`     // joiner: the slots of the inviter's already secured while NeedSKey
	TTLs         map[string]int64 `json:"ttls,omitempty"`          // incoming message ID → timer (s), until displayed
	Removed      bool             `json:"removed,omitempty"`       // group: we were removed; history kept read-only
	RemovedBy    string           `json:"removed_by,omitempty"`    // group: the admin who removed us (unsanitised)
	RefusedMove  string           `json:"refused_move,omitempty"`  // group: the relays of a move we did not follow (host:port list)
	Verified     []byte           `json:"verified,omitempty"`      // the hash of the safety code the user compared
	VerifyLost   bool             `json:"verify_lost,omitempty"`   // the safety code changed after it was compared

	// A profile restored from a backup, and session resets (spec/client.md §13).
	Restored        bool      `json:"restored,omitempty"`         // restored from a backup: needs a fresh session or group keys
	ResetKeys       []byte    `json:"reset_keys,omitempty"`       // our pending reset offer's one-time keys (secret)
	Held            []string  `json:"held,omitempty"`             // our messages held until the reset completes
	PeerResetTime   int64     `json:"peer_reset_time,omitempty"`  // the newest reset of the peer we answered or refused (Unix ms)
	PeerResetID     []byte    `json:"peer_reset_id,omitempty"`    // its ID
	Superseded      []byte    `json:"superseded,omitempty"`       // the session the peer's reset replaced (secret)
	SupersededUntil time.Time `json:"superseded_until,omitzero"`  // when it is forgotten
	SupersededNewer bool      `json:"superseded_newer,omitempty"` // Superseded is the reset's session, set aside until the offerer uses it
	Yielded         bool      `json:"yielded,omitempty"`          // we answered the peer's offer while ours is outstanding
	Outdated        bool      `json:"outdated,omitempty"`         // this copy was told the chat continues with another copy

	// Two relays, moves and rotation (spec/client.md §7.5, §7.6).
	PeerFeatures uint16 `json:"peer_features,omitempty"` // the feature bits the peer announced
	SentFeatures uint16 `json:"sent_features,omitempty"` // the feature bits we last announced (blob, HELLO2 or FEATURES)
	// FeaturesSent is the older form of SentFeatures ("ours were sent"),
	// read only: getMeta turns it into the bits those versions sent.
	FeaturesSent bool             `json:"features_sent,omitempty"`
	LastMove     map[string]int64 `json:"last_move,omitempty"`   // slot → when the peer's last MOVE for it was taken (Unix s)
	MoveWarned   map[string]int64 `json:"move_warned,omitempty"` // slot → when an ignored MOVE for it last warned (Unix s)
}

// task is a network action that must outlive the chat it belongs to: the
// BURN message to a peer whose chat we already erased, or deleting a
// mailbox (spec/client.md §7.3).
type task struct {
	Kind    string `json:"kind"` // "send", "del" or "cdel" (a file's chunks, cdel.go)
	Relay   string `json:"relay"`
	ID      []byte `json:"id"`
	Key     []byte `json:"key"` // sender capability or recipient key seed (secret)
	Payload []byte `json:"payload,omitempty"`
	// Chat is the chat a "send" task is for: its connection is the
	// chat's (spec/client.md §7.1), though the chat is gone.
	Chat    string    `json:"chat,omitempty"`
	NextTry time.Time `json:"next_try,omitzero"`
	Tries   int       `json:"tries,omitempty"`
	// NotBefore holds a task back until then, even from a forced flush:
	// a cdel task for a group file with a timer runs when the file ends.
	NotBefore time.Time `json:"not_before,omitzero"`
	// Setup is when a task standing in for a step under way was stored
	// (the DEL of a mailbox being made, newSecuredMailbox): it is held,
	// even by a forced flush, until setupStale later, when the step that
	// would have dropped it has surely died.
	Setup time.Time `json:"setup,omitzero"`
}

// key names the task for merging a run's results back into a list that
// may have changed meanwhile.
func (t *task) key() string {
	return t.Kind + "\x00" + t.Relay + "\x00" + string(t.ID) + "\x00" + string(t.Payload)
}

// held reports whether t stands for a step that may still be under way.
func (t *task) held(now time.Time) bool {
	return !t.Setup.IsZero() && now.Before(t.Setup.Add(setupStale))
}

// profile returns the profile, an empty one when the vault is fresh.
func profile(tx *vault.Tx) (vault.Profile, error) {
	p, err := tx.Profile()
	if errors.Is(err, vault.ErrNotFound) {
		return vault.Profile{Settings: map[string]string{}}, nil
	}
	if err != nil {
		return p, err
	}
	if p.Settings == nil {
		p.Settings = map[string]string{}
	}
	return p, nil
}

func getMeta(tx *vault.Tx, chat string) (chatMeta, error) {
	var m chatMeta
	p, err := profile(tx)
	if err != nil {
		return m, err
	}
	s, ok := p.Settings[settingChatPrefix+chat]
	if !ok {
		return m, nil
	}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return m, fmt.Errorf("client: corrupt chat settings: %w", err)
	}
	if m.FeaturesSent {
		// Written by a version whose bits were MOVE and two slots.
		m.SentFeatures |= format.FeatureMove | format.FeatureTwoSlots
		m.FeaturesSent = false
	}
	return m, nil
}

func putMeta(tx *vault.Tx, chat string, m *chatMeta) error {
	p, err := profile(tx)
	if err != nil {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	p.Settings[settingChatPrefix+chat] = string(b)
	return tx.PutProfile(&p)
}

func deleteMeta(tx *vault.Tx, chat string) error {
	p, err := profile(tx)
	if err != nil {
		return err
	}
	delete(p.Settings, settingChatPrefix+chat)
	delete(p.Settings, settingAutoBudget+chat) // nothing may keep naming an erased chat
	delete(p.Settings, settingOfferDue+chat)
	delete(p.Settings, settingDiskPaused+chat)
	return tx.PutProfile(&p)
}

func getTasks(tx *vault.Tx) ([]task, error) {
	p, err := profile(tx)
	if err != nil {
		return nil, err
	}
	var ts []task
	if s := p.Settings[settingTasks]; s != "" {
		if err := json.Unmarshal([]byte(s), &ts); err != nil {
			return nil, fmt.Errorf("client: corrupt task list: %w", err)
		}
	}
	return ts, nil
}

func putTasks(tx *vault.Tx, ts []task) error {
	p, err := profile(tx)
	if err != nil {
		return err
	}
	if len(ts) == 0 {
		delete(p.Settings, settingTasks)
	} else {
		b, err := json.Marshal(ts)
		if err != nil {
			return err
		}
		p.Settings[settingTasks] = string(b)
	}
	return tx.PutProfile(&p)
}

func addTasks(tx *vault.Tx, add ...task) error {
	ts, err := getTasks(tx)
	if err != nil {
		return err
	}
	return putTasks(tx, append(ts, add...))
}

// relayList returns the default relay and every configured relay, sorted.
func relayList(p vault.Profile) (def string, all []string) {
	def = p.Settings[settingDefaultRelay]
	for _, r := range strings.Split(p.Settings[settingRelays], "\n") {
		if r != "" {
			all = append(all, r)
		}
	}
	sort.Strings(all)
	return def, all
}
