package client

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/vault"
)

// incomingFile returns the file data of a received descriptor d (derr
// when it did not parse) in chat c (spec/client.md §5.16): offered, or
// expired when its chunks are past their deadline, or refused with the
// reason and nothing of it kept when it is bad or names a relay slot this
// chat does not have. A fresh local key seals its blob.
func (e *Engine) incomingFile(tx *vault.Tx, c *vault.Chat, d *format.FileDescriptor, derr error) (*fileMeta, error) {
	if derr != nil || d == nil {
		return &fileMeta{State: FileRefused, Err: refusedReason(derr)}, nil
	}
	relay, err := fetchRelay(tx, c, d.Slot)
	if err != nil && !errors.Is(err, errXferGone) {
		return nil, err
	}
	if relay == "" {
		return &fileMeta{State: FileRefused, Err: "it names a relay this chat does not have"}, nil
	}
	// One upload offered again under another message ID is refused: its
	// copies would each be downloaded (spec/client.md §5.16). The mark is
	// a one-way function of S, kept until the chunks' deadline.
	mark := fileMark(&d.Secret)
	seen, err := tx.SeenDelivery(c.ID, mark)
	if err != nil {
		return nil, err
	}
	if seen {
		return &fileMeta{State: FileRefused, Err: "it repeats a file already sent in this chat"}, nil
	}
	until := time.Unix(d.Expires, 0)
	if d.Expires == 0 || until.After(e.now().Add(maxChunkLife)) {
		until = e.now().Add(maxChunkLife)
	}
	if err := tx.PutDelivery(c.ID, mark, until); err != nil {
		return nil, err
	}
	lk, err := crypto.NewLocalFileKey()
	if err != nil {
		return nil, err
	}
	defer lk.Wipe()
	fm := &fileMeta{Secret: append([]byte(nil), d.Secret[:]...), Local: append([]byte(nil), lk[:]...), Slot: d.Slot,
		Size: d.Size, Chunks: d.Chunks, SHA256: append([]byte(nil), d.SHA256[:]...), Expires: d.Expires,
		Type: d.Type, Name: d.Name, State: FileOffered}
	if d.Expires != 0 && !e.now().Before(time.Unix(d.Expires, 0)) {
		fm.State, fm.Secret = FileExpired, nil
	}
	return fm, nil
}

// fileMark is what the chat's delivery IDs record of a received file:
// the first bytes of its first chunk's ID, which only S gives.
func fileMark(s *crypto.FileSecret) [vault.DeliveryIDSize]byte {
	k := crypto.NewFileKeys(s)
	defer k.Wipe()
	id := k.ChunkID(0)
	var m [vault.DeliveryIDSize]byte
	copy(m[:], id[:])
	return m
}

// refusedReason says in the user's words why a descriptor was refused.
func refusedReason(err error) string {
	var fe *format.FileError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return "its description is malformed"
}

// storeIncomingFile finishes a received file message m (stored by the
// caller): a file within the auto-download limit, its chat's budget and
// the disk's reserve gets its download record in the same transaction.
// It returns the warning that auto-download paused for the disk, once
// per chat until a file fits again.
func (e *Engine) storeIncomingFile(tx *vault.Tx, chat string, m *vault.Message, fm *fileMeta, now time.Time) (string, error) {
	mm := metaOf(m)
	mm.File = fm
	setMeta(m, &mm)
	m.Body = []byte(fm.Name)
	if fm.State == FileRefused {
		m.Body = nil
	}
	if err := tx.PutMessage(m); err != nil {
		return "", err
	}
	if fm.State != FileOffered {
		return "", nil
	}
	if fm.Expires != 0 {
		if err := noteOfferDue(tx, chat, fm.Expires); err != nil {
			return "", err
		}
	}
	lim := autoLimitTx(tx)
	if lim <= 0 || fm.Size > lim {
		return "", nil
	}
	if ok, _, reserve := e.diskRoom(blobNeed(fm.Chunks, 0), true); !ok {
		tell, err := noteDiskPaused(tx, chat)
		if err != nil || !tell {
			return "", err
		}
		return autoPausedText(reserve), nil
	}
	if err := clearDiskPaused(tx, chat); err != nil {
		return "", err
	}
	start, ok, err := takeAutoBudget(tx, chat, fm.Size, lim, now)
	if err != nil || !ok {
		return "", err
	}
	if err := startDownload(tx, chat, m); err != nil {
		return "", err
	}
	fm, mm = fileOf(m)
	fm.Auto = start
	setMeta(m, &mm)
	return "", tx.PutMessage(m)
}

// autoBudgetFactor bounds what auto-download fetches in an hour from one
// chat: this many times the auto-download limit, each chat its own, so
// one peer's files cannot stop auto-download in the other chats
// (spec/client.md §5.16). Beyond it a file stays offered.
const (
	autoBudgetFactor  = 4
	autoBudgetWindow  = time.Hour
	settingAutoBudget = "files/auto_used/" // + chat ID: "window start (Unix s):bytes"
)

// takeAutoBudget counts size against chat's auto-download budget for the
// hour, and reports whether it fits and the start of the budget's window
// (Unix s). Budgets of windows that ended go.
func takeAutoBudget(tx *vault.Tx, chat string, size, lim int64, now time.Time) (int64, bool, error) {
	p, err := profile(tx)
	if err != nil {
		return 0, false, err
	}
	window := func(v string) (start, used int64) {
		if a, b, ok := strings.Cut(v, ":"); ok {
			start, _ = strconv.ParseInt(a, 10, 64)
			used, _ = strconv.ParseInt(b, 10, 64)
		}
		if t := time.Unix(start, 0); now.Sub(t) >= autoBudgetWindow || now.Before(t) {
			return now.Unix(), 0
		}
		return start, used
	}
	for k, v := range p.Settings {
		if strings.HasPrefix(k, settingAutoBudget) {
			if _, used := window(v); used == 0 {
				delete(p.Settings, k)
			}
		}
	}
	delete(p.Settings, "files/auto_used") // the budget every chat once shared
	start, used := window(p.Settings[settingAutoBudget+chat])
	if used+size > lim*autoBudgetFactor {
		return start, false, tx.PutProfile(&p)
	}
	p.Settings[settingAutoBudget+chat] = strconv.FormatInt(start, 10) + ":" + strconv.FormatInt(used+size, 10)
	return start, true, tx.PutProfile(&p)
}

// giveAutoBudget returns n bytes to chat's auto-download budget of the
// window that started at start, if that window still runs.
func giveAutoBudget(tx *vault.Tx, chat string, start, n int64) error {
	p, err := profile(tx)
	if err != nil {
		return err
	}
	a, b, ok := strings.Cut(p.Settings[settingAutoBudget+chat], ":")
	if !ok || n <= 0 {
		return nil
	}
	s, _ := strconv.ParseInt(a, 10, 64)
	used, _ := strconv.ParseInt(b, 10, 64)
	if s != start {
		return nil // a later window: the bytes counted in one that ended
	}
	p.Settings[settingAutoBudget+chat] = a + ":" + strconv.FormatInt(max(used-n, 0), 10)
	return tx.PutProfile(&p)
}

// fileEventText is the text an incoming file's message event carries.
func fileEventText(fm *fileMeta) string {
	if fm.State == FileRefused {
		return "a file veil refused: " + fm.Err
	}
	return fm.Name
}

// file applies a FILE (spec/client.md §5.16): a message like a TEXT whose
// body is the file's name, with its file data; a refused descriptor
// leaves a line saying why, a warning, and nothing of the file.
func (r *rx) file(env *format.Envelope, now time.Time) error {
	fm, err := r.e.incomingFile(r.tx, r.chat, env.File, env.FileErr)
	if err != nil {
		return err
	}
	id := r.e.incomingID(env.ID)
	sent, unsure := sentTime(env.ID, now, r.chat.Created)
	m := vault.Message{ID: id, ChatID: r.chat.ID, Direction: vault.Incoming, Sender: r.ct.ID,
		Sent: sent, Received: now, Status: vault.StatusDelivered}
	setMeta(&m, &msgMeta{SentUnsure: unsure})
	if env.TTL > 0 {
		if r.meta.TTLs == nil {
			r.meta.TTLs = map[string]int64{}
		}
		r.meta.TTLs[id] = int64(min(time.Duration(env.TTL)*time.Second, maxTTL) / time.Second)
	}
	warn, err := r.e.storeIncomingFile(r.tx, r.chat.ID, &m, fm, now)
	if err != nil {
		return err
	}
	r.chat.Unread++
	r.chat.LastActive = now
	r.event(Event{Type: EventMessage, Message: id, Text: SanitizeLine(fileEventText(fm)), Sent: sent})
	if fm.State == FileRefused {
		r.event(Event{Type: EventWarning, Message: id, Err: SanitizeLine(r.ct.Nickname) + " sent a file veil refused: " + fm.Err})
	}
	if warn != "" {
		r.event(Event{Type: EventWarning, Message: id, Err: warn})
	}
	return r.queueReceipt(format.ReceiptDelivered, env.ID)
}

// groupFile stores a group FILE read from the log as message m, and
// turns its event into what the user sees; it returns the warning that
// auto-download paused for the disk, if the user is to be told.
func (e *Engine) groupFile(tx *vault.Tx, c *vault.Chat, m *vault.Message, ev *Event) (string, error) {
	fm, err := e.incomingFile(tx, c, ev.file, ev.fileErr)
	if err != nil {
		return "", err
	}
	ev.file, ev.fileErr = nil, nil
	warn, err := e.storeIncomingFile(tx, c.ID, m, fm, e.now())
	if err != nil {
		return "", err
	}
	ev.Text = SanitizeLine(fileEventText(fm))
	return warn, nil
}
