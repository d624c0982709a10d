package vault

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"veil/crypto"
)

// TestBurnedChatWhatStaysReadable checks spec/vault.md §6.3 and §6.6 as
// SECURITY.md ("Burned chats") states them: after a burn, someone with
// the disk and the PIN (the data key), who lists every version Badger
// still holds, finds no message body or sealed client data of the chat
// and none of its keys in the chat-key table. What stays readable until
// compaction, because Badger's delete only writes a tombstone, is the
// unsealed metadata: the chat record (its local name included) and each
// message's other fields (IDs, direction, sender, times, status); the
// test logs what it finds of them.
func TestBurnedChatWhatStaysReadable(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	dataKey := v.dataKey
	putChat2(t, v, &Chat{ID: "chat", Kind: ChatDirect, Name: "Dr. Hidden, clinic", ContactID: "peer"})
	const body, meta = "SECRET-body-results", "SECRET-meta-reply-to"
	received := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	err := v.Update(ctx, func(tx *Tx) error {
		return tx.PutMessage(&Message{ID: "m1", ChatID: "chat", Direction: Incoming, Sender: "peer",
			Body: []byte(body), Meta: []byte(meta), Received: received})
	})
	if err != nil {
		t.Fatal(err)
	}
	// The message given a timer after it was stored: an older version
	// sealed under the chat's own key stays in Badger beside the new one.
	err = v.Update(ctx, func(tx *Tx) error {
		return tx.PutMessage(&Message{ID: "m1", ChatID: "chat", Direction: Incoming, Sender: "peer",
			Body: []byte(body), Meta: []byte(meta), Received: received, Expires: received.Add(time.Hour)})
	})
	if err != nil {
		t.Fatal(err)
	}
	mustLock(t, v)
	if n := bodiesOpen(t, dir, &dataKey); n == 0 {
		t.Fatal("before the burn no version of the message opens with the table's keys")
	}
	v = mustOpen(t, dir, pin, testOpts(nil))
	if err := v.DeleteChat(ctx, "chat"); err != nil {
		t.Fatal(err)
	}
	mustLock(t, v)

	for id := range tableKeys(t, dir, &dataKey) {
		if strings.HasPrefix(id, "chat") {
			t.Errorf("after the burn the chat-key table still holds %q", id)
		}
	}
	if n := bodiesOpen(t, dir, &dataKey); n > 0 {
		t.Errorf("after the burn %d versions of the message still open with a key of the table", n)
	}
	versions := rawVersions(t, dir, &dataKey, messageKey("chat", "m1"))
	for _, b := range versions {
		for _, secret := range []string{body, meta} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("after the burn a version of the message holds %q in plain", secret)
			}
		}
	}
	var remains []string
	if len(versions) > 0 {
		remains = append(remains, "message metadata")
	}
	for _, b := range rawVersions(t, dir, &dataKey, simpleKey(pfxChat, "chat")) {
		if bytes.Contains(b, []byte("Dr. Hidden, clinic")) {
			remains = append(remains, "the chat record with its name")
			break
		}
	}
	t.Logf("readable with the data key until compaction: %v (%d versions of the message)", remains, len(versions))
}

// bodiesOpen counts the versions of message m1 of "chat" on disk whose
// sealed part (§8.2) opens with a key of the chat-key table.
func bodiesOpen(t *testing.T, dir string, dataKey *crypto.SymKey) int {
	t.Helper()
	keys := tableKeys(t, dir, dataKey)
	n := 0
	for _, b := range rawVersions(t, dir, dataKey, messageKey("chat", "m1")) {
		if len(b) < 13 {
			continue
		}
		l := int(binary.BigEndian.Uint32(b[9:13]))
		if 13+l > len(b) {
			t.Fatalf("a stored message of %d bytes says its sealed part has %d", len(b), l)
		}
		for _, k := range keys {
			if _, err := crypto.OpenX(nil, &k, b[13:13+l], messageAD("chat", "m1")); err == nil {
				n++
				break
			}
		}
	}
	return n
}
