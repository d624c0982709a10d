package vault

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestMessageMeta: a message's Meta is sealed beside its body, comes back
// as stored, is never searched, goes when the message is marked deleted,
// and is unreadable once the chat's key is gone (spec/vault.md §6.1).
func TestMessageMeta(t *testing.T) {
	v := createVault(t, t.TempDir(), testOpts(nil))
	putChat(t, v, "c", time.Time{})
	m := Message{ID: "1", ChatID: "c", Direction: Incoming, Body: []byte("hello"), Meta: []byte(`{"x":"secretmeta"}`)}
	if err := v.Update(ctx, func(tx *Tx) error { return tx.PutMessage(&m) }); err != nil {
		t.Fatal(err)
	}
	var got Message
	if err := v.View(ctx, func(tx *Tx) error { var err error; got, err = tx.Message("c", "1"); return err }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Meta, m.Meta) || string(got.Body) != "hello" {
		t.Fatalf("got %q / %q", got.Body, got.Meta)
	}
	if hits, _ := v.Search(ctx, "secretmeta", "", 0); len(hits) != 0 {
		t.Fatalf("meta was searched: %v", hits)
	}
	got.Deleted = true
	if err := v.Update(ctx, func(tx *Tx) error { return tx.PutMessage(&got) }); err != nil {
		t.Fatal(err)
	}
	if err := v.View(ctx, func(tx *Tx) error { var err error; got, err = tx.Message("c", "1"); return err }); err != nil {
		t.Fatal(err)
	}
	if got.Meta != nil || got.Body != nil {
		t.Fatalf("deleted message kept %q / %q", got.Body, got.Meta)
	}
	if err := v.DeleteChat(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	err := v.View(ctx, func(tx *Tx) error { _, err := tx.Message("c", "1"); return err })
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("after burn: %v", err)
	}
}
