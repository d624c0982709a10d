package badger

import (
	"context"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"

	bdg "github.com/dgraph-io/badger/v4"

	"veil/relay/store"
)

// TestVersion1Records opens a store whose mailbox and log records are in
// the badger store's version-1 format (spec/relay.md §13), as a relay
// written before version 2 left them: both read, and the mailbox works.
func TestVersion1Records(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openDir(t, dir)
	created := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	m := store.Mailbox{RecipientID: store.ID{1}, SenderID: store.ID{2}, RecipientKey: [32]byte{3},
		SenderKey: []byte("credential"), Created: created, LastActive: created}
	l := store.Log{ID: store.ID{4}, WriteCap: [32]byte{5}, ReadCap: [32]byte{6}, TTL: time.Hour, Created: created}
	day := uint32(created.Unix() / 86400)
	box := []byte{1}
	box = append(box, m.RecipientID[:]...)
	box = append(box, m.SenderID[:]...)
	box = append(box, m.RecipientKey[:]...)
	box = binary.BigEndian.AppendUint32(box, day)
	box = binary.BigEndian.AppendUint32(box, day)
	box = binary.BigEndian.AppendUint16(box, uint16(len(m.SenderKey)))
	box = append(box, m.SenderKey...)
	lg := []byte{1}
	lg = append(lg, l.ID[:]...)
	lg = append(lg, l.WriteCap[:]...)
	lg = append(lg, l.ReadCap[:]...)
	lg = binary.BigEndian.AppendUint64(lg, uint64(l.TTL))
	lg = binary.BigEndian.AppendUint32(lg, day)
	if err := s.db.Update(func(txn *bdg.Txn) error {
		for k, v := range map[string][]byte{
			string(idKey(prefixMailbox, m.RecipientID)): box,
			string(idKey(prefixSender, m.SenderID)):     m.RecipientID[:],
			string(idKey(prefixLog, l.ID)):              lg,
		} {
			if err := txn.Set([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDir(t, dir)
	defer s.Close()
	got, err := s.Mailbox(ctx, m.RecipientID)
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("Mailbox = %+v, %v; want %+v", got, err, m)
	}
	if gl, err := s.LogInfo(ctx, l.ID); err != nil || !reflect.DeepEqual(gl, l) {
		t.Fatalf("LogInfo = %+v, %v; want %+v", gl, err, l)
	}
	if _, err := s.Send(ctx, m.SenderID, []byte("hi"), time.Hour, 10); err != nil {
		t.Fatalf("Send to a version-1 mailbox: %v", err)
	}
}

// TestTakenBlobReservedAcrossReopen: the reservation a TakeBlob leaves is
// durable, and a blob a store of the previous format holds (a plain
// body under its ID, no reservation key) is taken and reserved as usual.
func TestTakenBlobReservedAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openDir(t, dir)
	deadline := time.Now().Add(time.Hour)
	old := store.ID{9}
	if err := s.db.Update(func(txn *bdg.Txn) error {
		e := bdg.NewEntry(idKey(prefixBlob, old), []byte("bundle"))
		e.ExpiresAt = expiresAt(deadline)
		return txn.SetEntry(e)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDir(t, dir)
	if b, err := s.TakeBlob(ctx, old); err != nil || string(b) != "bundle" {
		t.Fatalf("TakeBlob of a blob stored before reservations = %q, %v", b, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDir(t, dir)
	defer s.Close()
	if err := s.PutBlob(ctx, old, []byte("bundle"), deadline); !errors.Is(err, store.ErrExists) {
		t.Fatalf("PutBlob of a taken ID after reopening: %v, want ErrExists", err)
	}
	if _, err := s.TakeBlob(ctx, old); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TakeBlob of a taken ID after reopening: %v, want ErrNotFound", err)
	}
}
