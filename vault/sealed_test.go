package vault

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"veil/crypto"
)

// ratchetState is a recognisable stand-in for serialised ratchet state
// number i.
func ratchetState(i int) []byte {
	return fmt.Appendf(nil, "SECRET-ratchet-state-%03d-chain-key-material", i)
}

// putContactState stores contact id with ratchet state i.
func putContactState(t *testing.T, v *Vault, id string, i int) {
	t.Helper()
	err := v.Update(ctx, func(tx *Tx) error {
		c := Contact{ID: id, OurIdentity: []byte("SECRET-identity-" + id), Ratchet: ratchetState(i),
			Relays: []RelayCap{{Address: "veil://r", RecvKey: []byte("SECRET-recv-key-" + id)}}}
		return tx.PutContact(&c)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// rawVersions opens the profile's Badger directory with the data key (as
// someone who forced the PIN out of the user would) and returns every
// version of the record under bkey still on disk, tombstones left out.
func rawVersions(t *testing.T, dir string, dataKey *crypto.SymKey, bkey []byte) [][]byte {
	t.Helper()
	o := resolve(testOpts(nil))
	db, err := openBadger(filepath.Join(dir, dataDirName, badgerDirName), dataKey, &o, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out [][]byte
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{AllVersions: true, Prefix: bkey})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if !bytes.Equal(item.Key(), bkey) || item.IsDeletedOrExpired() {
				continue
			}
			b, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			out = append(out, b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tableKeys reads the chat-key table from disk with the data key.
func tableKeys(t *testing.T, dir string, dataKey *crypto.SymKey) map[string]crypto.SymKey {
	t.Helper()
	tk, err := loadChatKeys(filepath.Join(dir, dataDirName), dataKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tk.keys
}

// opensWithAny reports whether a stored contact version opens with any
// key of the table, under any epoch, or holds a plaintext state.
func opensWithAny(val []byte, bkey []byte, keys map[string]crypto.SymKey) bool {
	for i := range 20 {
		if bytes.Contains(val, ratchetState(i)) {
			return true
		}
	}
	if len(val) < sealedHdrSize {
		return false
	}
	for _, k := range keys {
		if _, err := crypto.OpenX(nil, &k, val[sealedHdrSize:], sealedAD(val[:sealedHdrSize], bkey)); err == nil {
			return true
		}
	}
	return false
}

// TestFindingM1OldRatchetStatesAfterBurn is the regression test for the
// protocol review's finding M1: superseded ratchet states stayed on disk
// under Badger's encryption only, so the PIN recovered them, even for
// burned chats. Now every version on disk is sealed under a state key
// that burning deletes, whichever way the chat goes: DeleteChat alone,
// the client's burn (DeleteContact, then DeleteChat), or its deadline
// passing (SweepExpired).
func TestFindingM1OldRatchetStatesAfterBurn(t *testing.T) {
	deadline := time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC) // a day after newClock's start
	burns := []struct {
		name     string
		deadline time.Time
		burn     func(v *Vault, clk *testClock) error
	}{
		{"DeleteChat", time.Time{}, func(v *Vault, _ *testClock) error { return v.DeleteChat(ctx, "chat") }},
		{"client burn", time.Time{}, func(v *Vault, _ *testClock) error {
			if err := v.Update(ctx, func(tx *Tx) error { return tx.DeleteContact("peer") }); err != nil {
				return err
			}
			return v.DeleteChat(ctx, "chat")
		}},
		{"deadline", deadline, func(v *Vault, clk *testClock) error {
			clk.Add(48 * time.Hour)
			_, err := v.SweepExpired(ctx)
			return err
		}},
	}
	for _, b := range burns {
		t.Run(b.name, func(t *testing.T) {
			dir := t.TempDir()
			clk := newClock()
			v := createVault(t, dir, testOpts(clk))
			dataKey := v.dataKey
			putChat2(t, v, &Chat{ID: "chat", Kind: ChatDirect, ContactID: "peer", Deadline: b.deadline})
			putChat2(t, v, &Chat{ID: "other", Kind: ChatDirect, ContactID: "friend"})
			for i := range 5 {
				putContactState(t, v, "peer", i)
			}
			putContactState(t, v, "friend", 10)
			mustLock(t, v)

			bkey := simpleKey(pfxContact, "peer")
			before := rawVersions(t, dir, &dataKey, bkey)
			if len(before) < 2 {
				// The finding's premise: Badger keeps superseded versions.
				// If it ever stops, this test no longer tests anything.
				t.Fatalf("only %d versions on disk before the burn; the test needs several", len(before))
			}

			v = mustOpen(t, dir, pin, testOpts(clk))
			if err := b.burn(v, clk); err != nil {
				t.Fatal(err)
			}
			err := v.View(ctx, func(tx *Tx) error {
				if _, err := tx.Contact("peer"); !errors.Is(err, ErrNotFound) {
					t.Errorf("burned chat's contact: %v, want ErrNotFound", err)
				}
				c, err := tx.Contact("friend")
				if err != nil || !bytes.Equal(c.Ratchet, ratchetState(10)) {
					t.Errorf("other contact damaged: %v", err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			mustLock(t, v)

			keys := tableKeys(t, dir, &dataKey)
			after := rawVersions(t, dir, &dataKey, bkey)
			for i, val := range append(before, after...) {
				if opensWithAny(val, bkey, keys) {
					t.Errorf("version %d of the burned contact is readable with the data key", i)
				}
			}
			// The check can fail: the live contact opens with the same method.
			fk := simpleKey(pfxContact, "friend")
			live := rawVersions(t, dir, &dataKey, fk)
			if len(live) == 0 || !opensWithAny(live[0], fk, keys) {
				t.Fatal("the live contact does not open: the check proves nothing")
			}
		})
	}
}

// putChat2 stores a chat record.
func putChat2(t *testing.T, v *Vault, c *Chat) {
	t.Helper()
	if err := v.Update(ctx, func(tx *Tx) error { return tx.PutChat(c) }); err != nil {
		t.Fatal(err)
	}
}

// TestSupersededStatesBecomeUnreadable: while a chat lives, rotating the
// state key leaves at most the current and the previous version of a
// record readable (spec/vault.md §6.6), and after a sweep, a Lock or an
// unlock only the current one.
func TestSupersededStatesBecomeUnreadable(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	dataKey := v.dataKey
	bkey := simpleKey(pfxContact, "peer")
	readable := func() (n int, versions int) {
		t.Helper()
		keys := v.keys.snapshot()
		err := v.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{AllVersions: true, Prefix: bkey})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				b, err := it.Item().ValueCopy(nil)
				if err != nil {
					return err
				}
				versions++
				if opensWithAny(b, bkey, keys) {
					n++
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n, versions
	}
	const writes = 4*rotateEvery + 2
	for i := range writes {
		putContactState(t, v, "peer", i)
		if n, _ := readable(); n < 1 || n > 2*rotateEvery {
			t.Fatalf("after write %d: %d readable versions, want 1..%d", i+1, n, 2*rotateEvery)
		}
	}
	if n, versions := readable(); versions < writes {
		t.Fatalf("%d versions on disk, want %d: the test does not see old versions (%d readable)", versions, writes, n)
	}
	// The sweep the client runs every second drops the previous key.
	if _, err := v.SweepExpired(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := readable(); n != 1 {
		t.Fatalf("after a sweep: %d readable versions, want 1", n)
	}
	putContactState(t, v, "peer", writes)
	if n, _ := readable(); n != 2 {
		t.Fatalf("after a write that follows a sweep: %d readable versions, want 2", n)
	}
	mustLock(t, v)
	// Lock drops the previous key: on disk only the current version opens.
	keys := tableKeys(t, dir, &dataKey)
	n := 0
	for _, val := range rawVersions(t, dir, &dataKey, bkey) {
		if opensWithAny(val, bkey, keys) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("after Lock: %d versions open with the table on disk, want 1", n)
	}
	v = mustOpen(t, dir, pin, testOpts(nil))
	defer mustLock(t, v)
	if n, _ := readable(); n != 1 {
		t.Fatalf("after unlock: %d readable versions, want 1", n)
	}
}

// TestSealedRecordsRoundTrip: profile, contact and group read back as
// written, in the same transaction and after reopening.
func TestSealedRecordsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	p := Profile{Name: "me", Settings: map[string]string{"a": "b"}, Created: time.Unix(1700000000, 0).UTC()}
	c := Contact{ID: "c", Nickname: "n", OurIdentity: []byte{1, 2}, Ratchet: []byte{3}, Relays: []RelayCap{{Address: "a", SendCred: []byte{4}}}, Created: time.Unix(1700000001, 0).UTC()}
	g := Group{ID: "g", State: []byte("state")}
	check := func(tx *Tx) {
		t.Helper()
		gp, err := tx.Profile()
		if err != nil || !reflect.DeepEqual(gp, p) {
			t.Fatalf("profile %+v, %v", gp, err)
		}
		gc, err := tx.Contact("c")
		if err != nil || !reflect.DeepEqual(gc, c) {
			t.Fatalf("contact %+v, %v", gc, err)
		}
		gg, err := tx.Group("g")
		if err != nil || !reflect.DeepEqual(gg, g) {
			t.Fatalf("group %+v, %v", gg, err)
		}
		cs, err := tx.Contacts()
		if err != nil || len(cs) != 1 {
			t.Fatalf("contacts %v, %v", cs, err)
		}
		gs, err := tx.Groups()
		if err != nil || len(gs) != 1 {
			t.Fatalf("groups %v, %v", gs, err)
		}
	}
	err := v.Update(ctx, func(tx *Tx) error {
		for range 3 { // several writes of one record in one transaction
			if err := tx.PutProfile(&p); err != nil {
				return err
			}
			if err := tx.PutContact(&c); err != nil {
				return err
			}
			if err := tx.PutGroup(&g); err != nil {
				return err
			}
		}
		check(tx)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mustLock(t, v)
	v = mustOpen(t, dir, pin, testOpts(nil))
	defer mustLock(t, v)
	if err := v.View(ctx, func(tx *Tx) error { check(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	// Stored sealed: no field appears in the value.
	err = v.View(ctx, func(tx *Tx) error {
		item, err := tx.txn.Get(simpleKey(pfxGroup, "g"))
		if err != nil {
			return err
		}
		b, _ := item.ValueCopy(nil)
		if b[0] != sealedVersion || bytes.Contains(b, []byte("state")) || bytes.Contains(b, []byte(`"ID"`)) {
			t.Errorf("group stored in the clear: %q", b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFailedUpdateKeepsSealedRecord: a transaction that rotates a state
// key and then fails leaves the committed record readable (nothing lost).
func TestFailedUpdateKeepsSealedRecord(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	putContactState(t, v, "peer", 1)
	boom := errors.New("boom")
	for range 2 * rotateEvery {
		err := v.Update(ctx, func(tx *Tx) error {
			if err := tx.PutContact(&Contact{ID: "peer", Ratchet: ratchetState(2)}); err != nil {
				return err
			}
			return boom
		})
		wantErr(t, err, boom)
	}
	get := func() {
		t.Helper()
		err := v.View(ctx, func(tx *Tx) error {
			c, err := tx.Contact("peer")
			if err != nil || !bytes.Equal(c.Ratchet, ratchetState(1)) {
				t.Fatalf("contact after failed updates: %q, %v", c.Ratchet, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	get()
	mustLock(t, v)
	v = mustOpen(t, dir, pin, testOpts(nil))
	defer mustLock(t, v)
	get()
	if n := len(v.keys.recordIDs(stateKeyBase(simpleKey(pfxContact, "peer")), 0, false)); n != 1 {
		t.Fatalf("%d state keys after unlock, want 1", n)
	}
}

// TestDeleteContactDropsStateKeys: deleting a sealed record removes its
// state keys right after the commit; deleting and putting it back in one
// transaction keeps it readable.
func TestDeleteContactDropsStateKeys(t *testing.T) {
	v := createVault(t, t.TempDir(), testOpts(nil))
	defer mustLock(t, v)
	base := stateKeyBase(simpleKey(pfxContact, "peer"))
	putContactState(t, v, "peer", 1)
	if len(v.keys.recordIDs(base, 0, false)) == 0 {
		t.Fatal("no state key for a stored contact")
	}
	err := v.Update(ctx, func(tx *Tx) error {
		if err := tx.DeleteContact("peer"); err != nil {
			return err
		}
		return tx.PutContact(&Contact{ID: "peer", Ratchet: ratchetState(3)})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = v.View(ctx, func(tx *Tx) error {
		c, err := tx.Contact("peer")
		if err != nil || !bytes.Equal(c.Ratchet, ratchetState(3)) {
			t.Fatalf("re-put contact: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Update(ctx, func(tx *Tx) error { return tx.DeleteContact("peer") }); err != nil {
		t.Fatal(err)
	}
	if ids := v.keys.recordIDs(base, 0, false); len(ids) != 0 {
		t.Fatalf("%d state keys left after DeleteContact", len(ids))
	}
}

// TestDeleteChatKeepsSharedContact: a contact another chat still refers
// to survives the deletion of one of its chats.
func TestDeleteChatKeepsSharedContact(t *testing.T) {
	v := createVault(t, t.TempDir(), testOpts(nil))
	defer mustLock(t, v)
	putChat2(t, v, &Chat{ID: "a", Kind: ChatDirect, ContactID: "peer"})
	putChat2(t, v, &Chat{ID: "b", Kind: ChatDirect, ContactID: "peer"})
	putChat2(t, v, &Chat{ID: "g", Kind: ChatGroup, GroupID: "grp"})
	putContactState(t, v, "peer", 1)
	if err := v.Update(ctx, func(tx *Tx) error { return tx.PutGroup(&Group{ID: "grp", State: []byte("s")}) }); err != nil {
		t.Fatal(err)
	}
	if err := v.DeleteChat(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := v.DeleteChat(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	err := v.View(ctx, func(tx *Tx) error {
		if _, err := tx.Contact("peer"); err != nil {
			t.Errorf("shared contact: %v", err)
		}
		if _, err := tx.Group("grp"); !errors.Is(err, ErrNotFound) {
			t.Errorf("group of a deleted group chat: %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.DeleteChat(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := v.View(ctx, func(tx *Tx) error { _, err := tx.Contact("peer"); wantErr(t, err, ErrNotFound); return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestInterruptedBurnOfSealedRecord: a crash after the state keys were
// deleted but before the record was leaves an unreadable record; lists
// skip it and the next unlock deletes it.
func TestInterruptedBurnOfSealedRecord(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	putContactState(t, v, "gone", 1)
	putContactState(t, v, "kept", 2)
	if err := v.keys.dropRecord(stateKeyBase(simpleKey(pfxContact, "gone")), 0, false); err != nil {
		t.Fatal(err)
	}
	err := v.View(ctx, func(tx *Tx) error {
		cs, err := tx.Contacts()
		if err != nil || len(cs) != 1 || cs[0].ID != "kept" {
			t.Fatalf("contacts with one burned: %v, %v", cs, err)
		}
		_, err = tx.Contact("gone")
		wantErr(t, err, ErrNotFound)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mustLock(t, v)
	v = mustOpen(t, dir, pin, testOpts(nil))
	defer mustLock(t, v)
	err = v.View(ctx, func(tx *Tx) error {
		if _, err := tx.txn.Get(simpleKey(pfxContact, "gone")); !errors.Is(err, badger.ErrKeyNotFound) {
			t.Errorf("unreadable record not deleted at unlock: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLegacyRecordsSealedAtUnlock: records stored as plain JSON (version
// 1, before §6.6) still read, and the next unlock seals them.
func TestLegacyRecordsSealedAtUnlock(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	c := Contact{ID: "old", Ratchet: []byte("legacy-state")}
	err := v.Update(ctx, func(tx *Tx) error {
		b, err := encodeRecord(&c)
		if err != nil {
			return err
		}
		return tx.txn.Set(simpleKey(pfxContact, "old"), b)
	})
	if err != nil {
		t.Fatal(err)
	}
	read := func() {
		t.Helper()
		err := v.View(ctx, func(tx *Tx) error {
			got, err := tx.Contact("old")
			if err != nil || !bytes.Equal(got.Ratchet, c.Ratchet) {
				t.Fatalf("legacy contact: %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	read()
	mustLock(t, v)
	v = mustOpen(t, dir, pin, testOpts(nil))
	defer mustLock(t, v)
	read()
	err = v.View(ctx, func(tx *Tx) error {
		item, err := tx.txn.Get(simpleKey(pfxContact, "old"))
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error {
			if b[0] != sealedVersion {
				t.Errorf("legacy record not sealed at unlock: version %d", b[0])
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestStateKeyIDsApart: state-key, bucket and chat IDs never parse as one
// another (spec/vault.md §6.2, §6.5, §6.6).
func TestStateKeyIDsApart(t *testing.T) {
	for _, id := range []string{"c", "chat-1", "日本語", string(bytes.Repeat([]byte("x"), maxIDLen))} {
		for _, pfx := range []byte{pfxProfile, pfxContact, pfxGroup} {
			sk := stateKeyID(simpleKey(pfx, id), 0xffffffffffffffff)
			if _, _, ok := parseBucketID(sk); ok {
				t.Errorf("state-key ID %q parses as a bucket ID", sk)
			}
			if base, e, ok := parseStateKeyID(sk); !ok || base != stateKeyBase(simpleKey(pfx, id)) || e != 0xffffffffffffffff {
				t.Errorf("state-key ID %q does not parse back", sk)
			}
		}
		if _, _, ok := parseStateKeyID(id); ok {
			t.Errorf("chat ID %q parses as a state-key ID", id)
		}
		if _, _, ok := parseStateKeyID(bucketID(id, 0xfefefefefefefefe)); ok {
			t.Errorf("bucket ID of %q parses as a state-key ID", id)
		}
	}
	sk := stateKeyID([]byte{pfxProfile}, 1)
	if _, _, ok := parseStateKeyID(sk); !ok {
		t.Error("the profile's state-key ID does not parse")
	}
}

// TestOneTableWritePerTransaction: rotating the state keys of several
// records in one transaction costs one chat-key table write, and a
// transaction that fails writes none.
func TestOneTableWritePerTransaction(t *testing.T) {
	v := createVault(t, t.TempDir(), testOpts(nil))
	defer mustLock(t, v)
	putChat2(t, v, &Chat{ID: "chat", Kind: ChatDirect, ContactID: "peer"})
	write := func(fail error) error {
		return v.Update(ctx, func(tx *Tx) error {
			for _, err := range []error{
				tx.PutContact(&Contact{ID: "peer", Ratchet: ratchetState(1)}),
				tx.PutProfile(&Profile{Name: "me"}),
				tx.PutGroup(&Group{ID: "g", State: []byte("s")}),
			} {
				if err != nil {
					return err
				}
			}
			return fail
		})
	}
	for i := range 3 {
		gen := v.keys.gen
		if err := write(nil); err != nil {
			t.Fatal(err)
		}
		if d := v.keys.gen - gen; d != 1 {
			t.Fatalf("write %d: %d table writes, want 1", i, d)
		}
	}
	gen := v.keys.gen
	boom := errors.New("boom")
	wantErr(t, write(boom), boom)
	if v.keys.gen != gen {
		t.Fatal("a failed transaction wrote the table")
	}
}

// TestStaleReadReadsLatest: a View whose snapshot predates a rotation
// and the sweep that dropped the key it needs reads the record's latest
// version, never ErrNotFound (which the client would take for a burned
// contact) nor an error that reaches the user, and lists do not skip it.
func TestStaleReadReadsLatest(t *testing.T) {
	v := createVault(t, t.TempDir(), testOpts(nil))
	defer mustLock(t, v)
	putChat2(t, v, &Chat{ID: "chat", Kind: ChatDirect, ContactID: "peer"})
	putContactState(t, v, "peer", 1)
	err := v.View(ctx, func(tx *Tx) error {
		putContactState(t, v, "peer", 2) // rotates; the snapshot still holds state 1
		if _, err := v.SweepExpired(ctx); err != nil {
			t.Fatal(err)
		}
		c, err := tx.Contact("peer")
		if err != nil || !bytes.Equal(c.Ratchet, ratchetState(2)) {
			t.Errorf("stale read of a live contact: %v, want its latest version", err)
		}
		cs, err := tx.Contacts()
		if err != nil || len(cs) != 1 || !bytes.Equal(cs[0].Ratchet, ratchetState(2)) {
			t.Errorf("Contacts in a stale snapshot: %d contacts, %v; want the live one at its latest version", len(cs), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = v.View(ctx, func(tx *Tx) error {
		c, err := tx.Contact("peer")
		if err != nil || !bytes.Equal(c.Ratchet, ratchetState(2)) {
			t.Fatalf("fresh read: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
