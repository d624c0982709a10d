package vault

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"veil/crypto"
)

func putChat(t *testing.T, v *Vault, id string, deadline time.Time) {
	t.Helper()
	err := v.Update(ctx, func(tx *Tx) error {
		return tx.PutChat(&Chat{ID: id, Kind: ChatDirect, Deadline: deadline})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func putMsg(t *testing.T, v *Vault, chat, id, body string, expires time.Time) {
	t.Helper()
	err := v.Update(ctx, func(tx *Tx) error {
		return tx.PutMessage(&Message{ID: id, ChatID: chat, Direction: Incoming, Body: []byte(body), Expires: expires})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDeleteChatDestroysKey: burning a chat removes its key from both
// copies of the chat-key table before anything else, so its bodies are
// unreadable at once whatever Badger still holds.
func TestDeleteChatDestroysKey(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	putChat(t, v, "burn", time.Time{})
	putChat(t, v, "keep", time.Time{})
	putMsg(t, v, "burn", "1", "burn me", time.Time{})
	putMsg(t, v, "keep", "1", "keep me", time.Time{})
	burnKey, _ := v.keys.get("burn")
	if err := v.DeleteChat(ctx, "burn"); err != nil {
		t.Fatal(err)
	}
	for _, f := range chatKeyFiles {
		b, err := os.ReadFile(filepath.Join(dir, dataDirName, f))
		if err != nil {
			t.Fatal(err)
		}
		_, keys, err := v.keys.parseCopy(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := keys["burn"]; ok {
			t.Errorf("%s still holds the burned chat's key", f)
		}
		if _, ok := keys["keep"]; !ok {
			t.Errorf("%s lost the other chat's key", f)
		}
		for _, k := range keys {
			if k == burnKey {
				t.Errorf("%s still holds the burned key bytes", f)
			}
		}
	}
	v.View(ctx, func(tx *Tx) error {
		if _, err := tx.Chat("burn"); !errors.Is(err, ErrNotFound) {
			t.Errorf("chat record survived: %v", err)
		}
		if _, err := tx.Message("burn", "1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("message survived: %v", err)
		}
		if m, err := tx.Message("keep", "1"); err != nil || string(m.Body) != "keep me" {
			t.Errorf("other chat damaged: %v", err)
		}
		return nil
	})
	err := v.Update(ctx, func(tx *Tx) error {
		return tx.PutMessage(&Message{ID: "2", ChatID: "burn", Body: []byte("x")})
	})
	wantErr(t, err, ErrNotFound)
	mustLock(t, v)
}

// TestSettleChatWaitsForADeletion: a read made while a chat's deletion is
// half done (key erased, records still there) fails on the chat's
// message; SettleChat returns only once the deletion has ended, and a read
// after it finds no chat at all, which is what a reader must be told.
func TestSettleChatWaitsForADeletion(t *testing.T) {
	v := createVault(t, t.TempDir(), testOpts(nil))
	defer v.Lock()
	putChat(t, v, "burn", time.Time{})
	putMsg(t, v, "burn", "1", "burn me", time.Time{})
	putChat(t, v, "keep", time.Time{})
	putMsg(t, v, "keep", "1", "keep me", time.Time{})
	release, err := v.use()
	if err != nil {
		t.Fatal(err)
	}
	v.writeMu.Lock() // DeleteChat's hold, taken by hand to stop half-way
	held := true
	defer func() { // a failure below must not leave the vault held (v.Lock waits for it)
		if held {
			v.writeMu.Unlock()
			release()
		}
	}()
	if err := v.keys.removeChat("burn"); err != nil {
		t.Fatal(err)
	}
	v.View(ctx, func(tx *Tx) error {
		if _, err := tx.Chat("burn"); err != nil {
			t.Errorf("the chat record is gone before the deletion's end: %v", err)
		}
		if _, err := tx.Message("burn", "1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("a message whose key was erased: %v, want ErrNotFound", err)
		}
		return nil
	})
	settled := make(chan error, 1)
	go func() {
		if err := v.SettleChat("burn"); err != nil {
			settled <- err
			return
		}
		settled <- v.View(ctx, func(tx *Tx) error {
			_, err := tx.Chat("burn")
			return err
		})
	}()
	// Another chat, whose key is there, is not held up by the deletion.
	keepSettled := make(chan error, 1)
	go func() { keepSettled <- v.SettleChat("keep") }()
	select {
	case err := <-keepSettled:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SettleChat of a chat nobody deletes waited for another chat's deletion")
	}
	select {
	case err := <-settled:
		t.Fatalf("SettleChat returned during the deletion (then read: %v)", err)
	case <-time.After(50 * time.Millisecond): // cannot fail by being slow
	}
	err = v.deleteChatLocked(ctx, "burn")
	held = false
	v.writeMu.Unlock()
	release()
	if err != nil {
		t.Fatal(err)
	}
	if err := <-settled; !errors.Is(err, ErrNotFound) {
		t.Fatalf("the chat after SettleChat: %v, want ErrNotFound", err)
	}
}

// TestInterruptedChatDeleteFinishes: a crash after the key was deleted but
// before the records were is finished at the next unlock; a key left by a
// failed transaction is removed.
func TestInterruptedChatDeleteFinishes(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	putChat(t, v, "a", time.Time{})
	putMsg(t, v, "a", "1", "one", time.Time{})
	if err := v.keys.remove("a"); err != nil { // the crash happens here
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := v.Update(ctx, func(tx *Tx) error {
		if err := tx.PutChat(&Chat{ID: "orphan"}); err != nil {
			return err
		}
		return boom
	})
	wantErr(t, err, boom)
	mustLock(t, v)
	v = mustOpen(t, dir, pin, testOpts(nil))
	defer v.Lock()
	if _, ok := v.keys.get("orphan"); ok {
		t.Error("orphan key kept")
	}
	v.View(ctx, func(tx *Tx) error {
		if chats, _ := tx.Chats(); len(chats) != 0 {
			t.Errorf("chats left: %v", chats)
		}
		if err := tx.each(chatPrefix("a"), func([]byte) error { return errors.New("left") }); err != nil {
			t.Error("messages of the deleted chat left")
		}
		return nil
	})
}

func TestSweepExpired(t *testing.T) {
	clk := newClock()
	v := createVault(t, t.TempDir(), testOpts(clk))
	defer v.Lock()
	now := clk.Now()
	putChat(t, v, "c", time.Time{})
	putChat(t, v, "doomed", now.Add(30*time.Minute))
	putMsg(t, v, "c", "old", "expired words", now.Add(-time.Second))
	putMsg(t, v, "c", "soon", "soon words", now.Add(time.Hour))
	putMsg(t, v, "c", "kept", "kept words", time.Time{})
	putMsg(t, v, "doomed", "x", "doomed words", time.Time{})
	// Changing an expiry moves its index entry.
	putMsg(t, v, "c", "moved", "moved words", now.Add(-time.Minute))
	putMsg(t, v, "c", "moved", "moved words", now.Add(2*time.Hour))

	if hits, _ := v.Search(ctx, "words", "", 0); len(hits) != 5 {
		t.Fatalf("before sweep: %d hits", len(hits))
	}
	n, err := v.SweepExpired(ctx)
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v; want 1", n, err)
	}
	clk.Add(time.Hour + time.Second)
	n, err = v.SweepExpired(ctx)
	if err != nil || n != 2 { // "soon" and the chat "doomed"
		t.Fatalf("second sweep: %d, %v; want 2", n, err)
	}
	hits, _ := v.Search(ctx, "words", "", 0)
	want := []Hit{{"c", "kept"}, {"c", "moved"}}
	if !reflect.DeepEqual(hits, want) {
		t.Fatalf("after sweeps: %v, want %v", hits, want)
	}
	if _, ok := v.keys.get("doomed"); ok {
		t.Error("the self-destructed chat's key survived")
	}
	n, err = v.SweepExpired(ctx)
	if err != nil || n != 0 {
		t.Fatalf("idle sweep: %d, %v", n, err)
	}
}

func TestSweepManyInBatches(t *testing.T) {
	clk := newClock()
	v := createVault(t, t.TempDir(), testOpts(clk))
	defer v.Lock()
	putChat(t, v, "c", time.Time{})
	const n = deleteBatch + 250
	for lo := 0; lo < n; lo += 500 {
		err := v.Update(ctx, func(tx *Tx) error {
			for i := lo; i < min(lo+500, n); i++ {
				m := Message{ID: fmt.Sprintf("%05d", i), ChatID: "c", Body: []byte("b"), Expires: clk.Now().Add(time.Duration(i) * time.Millisecond)}
				if err := tx.PutMessage(&m); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(time.Hour)
	got, err := v.SweepExpired(ctx)
	if err != nil || got != n {
		t.Fatalf("swept %d, %v; want %d", got, err, n)
	}
}

func TestSearch(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	putChat(t, v, "a", time.Time{})
	putChat(t, v, "b", time.Time{})
	putMsg(t, v, "a", "1", "Meet at the Station", time.Time{})
	putMsg(t, v, "a", "2", "bring the documents", time.Time{})
	putMsg(t, v, "b", "1", "station closed today", time.Time{})
	hits, err := v.Search(ctx, "STATION", "", 0)
	if want := []Hit{{"a", "1"}, {"b", "1"}}; err != nil || !reflect.DeepEqual(hits, want) {
		t.Fatalf("across chats: %v %v, want %v", hits, err, want)
	}
	hits, _ = v.Search(ctx, "station", "b", 0)
	if want := []Hit{{"b", "1"}}; !reflect.DeepEqual(hits, want) {
		t.Fatalf("in chat b: %v", hits)
	}
	hits, _ = v.Search(ctx, "station", "", 1)
	if len(hits) != 1 {
		t.Fatalf("limit: %v", hits)
	}
	// The index follows commits after it is built.
	putMsg(t, v, "b", "2", "new station", time.Time{})
	err = v.Update(ctx, func(tx *Tx) error {
		if err := tx.DeleteMessage("a", "1"); err != nil {
			return err
		}
		return tx.PutMessage(&Message{ID: "2", ChatID: "a", Deleted: true}) // deleted for everyone
	})
	if err != nil {
		t.Fatal(err)
	}
	hits, _ = v.Search(ctx, "station", "", 0)
	if want := []Hit{{"b", "1"}, {"b", "2"}}; !reflect.DeepEqual(hits, want) {
		t.Fatalf("after changes: %v, want %v", hits, want)
	}
	if hits, _ := v.Search(ctx, "documents", "", 0); len(hits) != 0 {
		t.Fatalf("a message deleted for everyone is still found: %v", hits)
	}
	if _, err := v.Search(ctx, "", "", 0); err == nil {
		t.Fatal("empty query accepted")
	}
	// And it is rebuilt from disk after a new unlock.
	mustLock(t, v)
	v = mustOpen(t, dir, pin, testOpts(nil))
	defer v.Lock()
	hits, _ = v.Search(ctx, "station", "", 0)
	if want := []Hit{{"b", "1"}, {"b", "2"}}; !reflect.DeepEqual(hits, want) {
		t.Fatalf("after unlock: %v, want %v", hits, want)
	}
}

// TestConcurrentUse runs writers, readers, searches and a sweep at once
// (meaningful under -race), then locks while they may still be running.
func TestConcurrentUse(t *testing.T) {
	v := createVault(t, t.TempDir(), testOpts(nil))
	putChat(t, v, "c", time.Time{})
	done := make(chan error, 4)
	go func() {
		for i := range 50 {
			if err := v.Update(ctx, func(tx *Tx) error {
				return tx.PutMessage(&Message{ID: fmt.Sprint(i), ChatID: "c", Body: []byte("hello")})
			}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	go func() {
		for range 50 {
			if _, err := v.Search(ctx, "hello", "", 0); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	go func() {
		for range 50 {
			if err := v.View(ctx, func(tx *Tx) error { _, err := tx.Messages("c", 10); return err }); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	go func() {
		_, err := v.SweepExpired(ctx)
		done <- err
	}()
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	hits, err := v.Search(ctx, "hello", "c", 0)
	if err != nil || len(hits) != 50 {
		t.Fatalf("%d hits, %v", len(hits), err)
	}
	mustLock(t, v)
}

// TestChatIndexCompaction: replacing and deleting messages leaves dead
// arena entries; compaction drops them and search stays exact.
func TestChatIndexCompaction(t *testing.T) {
	c := newChatIndex()
	body := []byte(strings.Repeat("filler ", 100) + "Needle\x00here")
	for round := range 3 {
		for i := range 400 {
			c.put(fmt.Sprint(i), body)
		}
		for i := range 400 {
			if i%2 == 1 {
				c.remove(fmt.Sprint(i))
			}
		}
		var got []string
		c.search([]byte("needle here"), func(id string) { got = append(got, id) })
		if len(got) != 200 {
			t.Fatalf("round %d: %d hits, want 200", round, len(got))
		}
		if c.dead > compactMin && c.dead > len(c.text)/2 {
			t.Fatalf("round %d: not compacted (%d dead of %d)", round, c.dead, len(c.text))
		}
	}
	var none []string
	c.search([]byte("needle\x00"), func(id string) { none = append(none, id) })
	c.search([]byte("here filler"), func(id string) { none = append(none, id) }) // never across messages
	if len(none) != 0 {
		t.Fatalf("matches across the separator: %v", none)
	}
}

// TestMessageIDs: the newest-first listing finds the highest IDs, and IDs
// that JSON would alter (invalid UTF-8) are refused.
func TestMessageIDs(t *testing.T) {
	v := createVault(t, t.TempDir(), testOpts(nil))
	defer v.Lock()
	putChat(t, v, "c", time.Time{})
	putMsg(t, v, "c", "a", "first", time.Time{})
	putMsg(t, v, "c", strings.Repeat("\U0010FFFF", 63), "last", time.Time{})
	v.View(ctx, func(tx *Tx) error {
		ms, err := tx.Messages("c", 1)
		if err != nil || len(ms) != 1 || string(ms[0].Body) != "last" {
			t.Fatalf("newest message: %v %v", ms, err)
		}
		return nil
	})
	for _, id := range []string{"", "\xff", strings.Repeat("x", 256)} {
		err := v.Update(ctx, func(tx *Tx) error {
			return tx.PutMessage(&Message{ID: id, ChatID: "c", Body: []byte("x")})
		})
		if err == nil {
			t.Errorf("message ID %q accepted", id)
		}
	}
	if err := v.Update(ctx, func(tx *Tx) error { return tx.PutChat(&Chat{ID: "\xfe"}) }); err == nil {
		t.Error("invalid UTF-8 chat ID accepted")
	}
}

// TestExpiredBodiesLoseTheirKey: a message with an expiry is sealed under
// its chat's hourly bucket key; the sweep deletes the key of every ended
// bucket from both table copies first, so the expired body is unreadable
// even where Badger still holds it (spec/vault.md §6.5).
func TestExpiredBodiesLoseTheirKey(t *testing.T) {
	dir := t.TempDir()
	clk := newClock() // 03:04:05
	v := createVault(t, dir, testOpts(clk))
	defer v.Lock()
	now := clk.Now()
	putChat(t, v, "c", time.Time{})
	putMsg(t, v, "c", "a", "forever", time.Time{})
	putMsg(t, v, "c", "b", "gone soon", now.Add(10*time.Minute))
	putMsg(t, v, "c", "c", "gone later", now.Add(3*time.Hour))
	var sealedB []byte
	v.View(ctx, func(tx *Tx) error {
		var s storedMessage
		if err := tx.get(messageKey("c", "b"), &s); err != nil {
			t.Fatal(err)
		}
		if s.Bucket != bucketOf(now.Add(10*time.Minute)) || s.Bucket == 0 {
			t.Fatalf("message b in bucket %d", s.Bucket)
		}
		sealedB = s.Sealed
		return nil
	})
	tableIDs := func() map[string]crypto.SymKey {
		t.Helper()
		var all map[string]crypto.SymKey
		for _, f := range chatKeyFiles {
			b, err := os.ReadFile(filepath.Join(dir, dataDirName, f))
			if err != nil {
				t.Fatal(err)
			}
			_, keys, err := v.keys.parseCopy(b)
			if err != nil {
				t.Fatal(err)
			}
			if all != nil && !reflect.DeepEqual(all, keys) {
				t.Fatal("the two table copies differ")
			}
			all = keys
		}
		return all
	}
	if n := len(tableIDs()); n != 3 { // chat key and two buckets
		t.Fatalf("%d table entries, want 3", n)
	}
	clk.Add(time.Hour) // 04:04:05: b's bucket (ending 04:00) is over
	n, err := v.SweepExpired(ctx)
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	keys := tableIDs()
	if _, ok := keys[bucketID("c", bucketOf(now.Add(10*time.Minute)))]; ok {
		t.Fatal("the ended bucket's key is still on disk")
	}
	if _, ok := keys[bucketID("c", bucketOf(now.Add(3*time.Hour)))]; !ok {
		t.Fatal("a live bucket's key was deleted")
	}
	for _, k := range keys {
		if _, err := crypto.OpenX(nil, &k, sealedB, messageAD("c", "b")); err == nil {
			t.Fatal("the expired body still opens with a key on disk")
		}
	}
	v.View(ctx, func(tx *Tx) error {
		for id, want := range map[string]string{"a": "forever", "c": "gone later"} {
			if m, err := tx.Message("c", id); err != nil || string(m.Body) != want {
				t.Errorf("message %s: %v", id, err)
			}
		}
		return nil
	})
	if err := v.DeleteChat(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if keys := tableIDs(); len(keys) != 0 {
		t.Fatalf("burning the chat left %d keys", len(keys))
	}
}

func TestExpiryKeyOrderAtExtremes(t *testing.T) {
	times := []time.Time{time.Unix(-5, 0), time.Unix(0, 0), time.Unix(1, 0), time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}
	for i := 1; i < len(times); i++ {
		a, b := expiryKey(times[i-1], "c", "m"), expiryKey(times[i], "c", "m")
		if string(a[:9]) > string(b[:9]) {
			t.Errorf("%v sorts after %v", times[i-1], times[i])
		}
	}
}
