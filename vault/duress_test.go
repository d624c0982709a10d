package vault

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"veil/crypto"
)

func fillSample(t *testing.T, v *Vault) {
	t.Helper()
	p, c, ch, msgs, o, g := sampleRecords(time.Now().UTC())
	err := v.Update(ctx, func(tx *Tx) error {
		tx.PutProfile(&p)
		tx.PutContact(&c)
		tx.PutOutbox(&o)
		tx.PutGroup(&g)
		if err := tx.PutChat(&ch); err != nil {
			return err
		}
		for i := range msgs {
			if err := tx.PutMessage(&msgs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func isEmpty(t *testing.T, v *Vault) bool {
	t.Helper()
	empty := true
	v.View(ctx, func(tx *Tx) error {
		if _, err := tx.Profile(); !errors.Is(err, ErrNotFound) {
			empty = false
		}
		cs, _ := tx.Contacts()
		chs, _ := tx.Chats()
		ob, _ := tx.Outbox()
		gs, _ := tx.Groups()
		if len(cs)+len(chs)+len(ob)+len(gs) != 0 {
			empty = false
		}
		return nil
	})
	hits, err := v.Search(ctx, "e", "", 0)
	if err != nil || len(hits) != 0 {
		empty = false
	}
	return empty
}

func TestDuressDecoy(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	fillSample(t, v)
	if err := v.SetDuressPIN(ctx, duressPIN, 0); err != nil {
		t.Fatal(err)
	}
	oldKey := v.dataKey
	oldKF, _ := os.ReadFile(filepath.Join(dir, keyFileName))
	mustLock(t, v)

	var erased bool
	o := testOpts(nil)
	o.afterErase = func() {
		erased = true
		if exists(filepath.Join(dir, keyFileName)) || exists(filepath.Join(dir, dataDirName)) {
			t.Error("key file or data directory still in place after the erase")
		}
	}
	d, err := Open(ctx, dir, duressPIN, o)
	if err != nil {
		t.Fatalf("duress unlock returned %v; it must look like a normal unlock", err)
	}
	if !erased {
		t.Fatal("duress unlock did not erase")
	}
	if !isEmpty(t, d) {
		t.Error("decoy vault is not empty")
	}
	if d.dataKey == oldKey {
		t.Error("decoy vault reuses the old data key")
	}
	newKF, _ := os.ReadFile(filepath.Join(dir, keyFileName))
	if len(newKF) != len(oldKF) || bytes.Equal(newKF[20:52], oldKF[20:52]) {
		t.Error("decoy key file must have the same size and a fresh salt")
	}
	fillSample(t, d) // the decoy is a working vault
	mustLock(t, d)
	if left := trashDirs(dir); len(left) != 0 {
		t.Errorf("old data left behind: %v", left)
	}
	// The real PIN opens nothing now; the duress PIN is the decoy's PIN.
	_, err = Open(ctx, dir, pin, testOpts(nil))
	wantErr(t, err, ErrWrongPIN)
	d = mustOpen(t, dir, duressPIN, testOpts(nil))
	defer d.Lock()
	if isEmpty(t, d) {
		t.Error("the decoy vault lost what was stored in it")
	}
}

func TestDuressReset(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	fillSample(t, v)
	if err := v.SetDuressPIN(ctx, duressPIN, DuressReset); err != nil {
		t.Fatal(err)
	}
	mustLock(t, v)
	_, err := Open(ctx, dir, duressPIN, testOpts(nil))
	wantErr(t, err, ErrErased)
	for _, name := range []string{keyFileName, stateFileName, dataDirName} {
		if exists(filepath.Join(dir, name)) {
			t.Errorf("%s survived the erase", name)
		}
	}
	if left := trashDirs(dir); len(left) != 0 {
		t.Errorf("old data left behind: %v", left)
	}
	_, err = Open(ctx, dir, pin, testOpts(nil))
	wantErr(t, err, ErrNoProfile)
	// A new vault can be created in the same place.
	mustLock(t, createVault(t, dir, testOpts(nil)))
}

func TestDuressPINMustDiffer(t *testing.T) {
	v := createVault(t, t.TempDir(), testOpts(nil))
	defer v.Lock()
	wantErr(t, v.SetDuressPIN(ctx, pin, DuressDecoy), ErrBadPIN)
	wantErr(t, v.SetDuressPIN(ctx, []byte("12"), DuressDecoy), ErrBadPIN)
	if err := v.SetDuressPIN(ctx, duressPIN, 7); err == nil {
		t.Error("unknown duress mode accepted")
	}
}

func TestReplaceAndRemoveDuressPIN(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	fillSample(t, v)
	if err := v.SetDuressPIN(ctx, duressPIN, DuressReset); err != nil {
		t.Fatal(err)
	}
	if err := v.SetDuressPIN(ctx, []byte("5555"), DuressReset); err != nil {
		t.Fatal(err)
	}
	mustLock(t, v)
	// The replaced duress PIN is an ordinary wrong PIN now.
	_, err := Open(ctx, dir, duressPIN, testOpts(nil))
	wantErr(t, err, ErrWrongPIN)
	v = mustOpen(t, dir, pin, testOpts(nil))
	if err := v.RemoveDuressPIN(ctx); err != nil {
		t.Fatal(err)
	}
	mustLock(t, v)
	_, err = Open(ctx, dir, []byte("5555"), testOpts(nil))
	wantErr(t, err, ErrWrongPIN)
	v = mustOpen(t, dir, pin, testOpts(nil))
	defer v.Lock()
	if isEmpty(t, v) {
		t.Error("data lost")
	}
}

// TestKeyFileHidesDuress: with or without a duress PIN the key file has the
// same size and header, every slot looks random, and setting a duress PIN
// changes every non-primary slot, so comparing versions shows nothing.
func TestKeyFileHidesDuress(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	defer v.Lock()
	name := filepath.Join(dir, keyFileName)
	before, _ := os.ReadFile(name)
	if err := v.SetDuressPIN(ctx, duressPIN, DuressDecoy); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(name)
	if len(before) != keyFileSize || len(after) != keyFileSize {
		t.Fatalf("key file sizes %d and %d, want %d", len(before), len(after), keyFileSize)
	}
	if !bytes.Equal(before[:headerSize], after[:headerSize]) {
		t.Error("header changed")
	}
	for i := range numSlots {
		a := before[headerSize+i*slotSize : headerSize+(i+1)*slotSize]
		b := after[headerSize+i*slotSize : headerSize+(i+1)*slotSize]
		if i == v.primary {
			if !bytes.Equal(a, b) {
				t.Error("primary slot changed")
			}
			continue
		}
		if bytes.Equal(a, b) {
			t.Errorf("non-primary slot %d unchanged: it would single out the duress slot", i)
		}
		for _, s := range [][]byte{a, b} {
			if d := distinct(s); d < 60 {
				t.Errorf("slot %d has %d distinct byte values in %d: not random-looking", i, d, len(s))
			}
		}
	}
	if d := distinct(after[headerSize+v.primary*slotSize : headerSize+(v.primary+1)*slotSize]); d < 60 {
		t.Errorf("primary slot not random-looking (%d distinct bytes)", d)
	}
}

// distinct counts the distinct byte values of b; 104 random bytes have
// about 85, and fewer than 60 happens with negligible probability.
func distinct(b []byte) int {
	var seen [256]bool
	n := 0
	for _, c := range b {
		if !seen[c] {
			seen[c] = true
			n++
		}
	}
	return n
}

func TestWrongPINBackoff(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	mustLock(t, createVault(t, dir, testOpts(clk)))
	for i := range freeAttempts {
		_, err := Open(ctx, dir, []byte("0000"), testOpts(clk))
		wantErr(t, err, ErrWrongPIN)
		_ = i
	}
	// Fourth try at once: refused without trying the PIN, even the right one.
	_, err := Open(ctx, dir, pin, testOpts(clk))
	var be *BackoffError
	if !errors.As(err, &be) || !errors.Is(err, ErrBackoff) || be.Wait != time.Second {
		t.Fatalf("got %v, want a 1 s back-off", err)
	}
	clk.Add(time.Second)
	_, err = Open(ctx, dir, []byte("0000"), testOpts(clk))
	wantErr(t, err, ErrWrongPIN)
	_, err = Open(ctx, dir, pin, testOpts(clk))
	if !errors.As(err, &be) || be.Wait != 2*time.Second {
		t.Fatalf("got %v, want a 2 s back-off", err)
	}
	// Setting the clock back a day costs one wait, not a day.
	clk.Add(-24 * time.Hour)
	_, err = Open(ctx, dir, pin, testOpts(clk))
	if !errors.As(err, &be) || be.Wait != 2*time.Second {
		t.Fatalf("after the clock went back: %v, want a 2 s back-off", err)
	}
	clk.Add(2 * time.Second)
	v := mustOpen(t, dir, pin, testOpts(clk)) // the right PIN resets the counter
	mustLock(t, v)
	st, err := readState(filepath.Join(dir, stateFileName))
	if err != nil || st.failures != 0 || st.lastFailure != 0 {
		t.Fatalf("state after success: %+v %v", st, err)
	}
	for f, want := range map[uint32]time.Duration{0: 0, 2: 0, 3: time.Second, 4: 2 * time.Second, 10: 128 * time.Second, 15: time.Hour, 1 << 31: time.Hour} {
		if got := backoff(f); got != want {
			t.Errorf("backoff(%d) = %v, want %v", f, got, want)
		}
	}
}

func TestWipeAfterWrongPINs(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	v := createVault(t, dir, testOpts(clk))
	fillSample(t, v)
	if err := v.SetPolicy(Policy{WipeAfter: 4}); err != nil {
		t.Fatal(err)
	}
	if p, err := v.Policy(); err != nil || p.WipeAfter != 4 {
		t.Fatalf("Policy() = %+v, %v", p, err)
	}
	mustLock(t, v)
	for range 3 {
		_, err := Open(ctx, dir, []byte("0000"), testOpts(clk))
		wantErr(t, err, ErrWrongPIN)
		clk.Add(time.Hour)
	}
	if !exists(filepath.Join(dir, keyFileName)) {
		t.Fatal("erased too early")
	}
	_, err := Open(ctx, dir, []byte("0000"), testOpts(clk))
	wantErr(t, err, ErrErased)
	_, err = Open(ctx, dir, pin, testOpts(clk))
	wantErr(t, err, ErrNoProfile)
}

func TestDeadMan(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	v := createVault(t, dir, testOpts(clk))
	if err := v.SetPolicy(Policy{DeadMan: 48 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	mustLock(t, v)
	clk.Add(47 * time.Hour)
	v = mustOpen(t, dir, pin, testOpts(clk)) // in time: the timer restarts
	mustLock(t, v)
	clk.Add(48*time.Hour + time.Second)
	_, err := Open(ctx, dir, pin, testOpts(clk))
	wantErr(t, err, ErrErased)
	_, err = Open(ctx, dir, pin, testOpts(clk))
	wantErr(t, err, ErrNoProfile)
	if err := (&Vault{}).SetPolicy(Policy{WipeAfter: -1}); err == nil {
		t.Error("negative policy accepted")
	}
}

func TestStateHidesTimestampsWhenUnused(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	mustLock(t, createVault(t, dir, testOpts(clk)))
	mustLock(t, mustOpen(t, dir, pin, testOpts(clk)))
	st, err := readState(filepath.Join(dir, stateFileName))
	if err != nil {
		t.Fatal(err)
	}
	if *st != (state{}) {
		t.Errorf("state without a policy records %+v; want nothing", st)
	}
}

func TestWipeOpenAndLocked(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	fillSample(t, v)
	if err := v.Wipe(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, v.View(ctx, func(*Tx) error { return nil }), ErrLocked)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != lockFileName {
			t.Errorf("%s left after Wipe", e.Name())
		}
	}
	_, err := Open(ctx, dir, pin, testOpts(nil))
	wantErr(t, err, ErrNoProfile)

	dir = t.TempDir()
	v = createVault(t, dir, testOpts(nil))
	wantErr(t, WipeProfile(ctx, dir, testOpts(nil)), ErrBusy)
	mustLock(t, v)
	if err := WipeProfile(ctx, dir, testOpts(nil)); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, dir, pin, testOpts(nil))
	wantErr(t, err, ErrNoProfile)
}

// TestEraseCoversLeftoverTempKeyFile: a key file's temporary copy (left by
// a crash during a PIN change) holds the data key too, so the erase
// overwrites and removes it as well.
func TestEraseCoversLeftoverTempKeyFile(t *testing.T) {
	dir := t.TempDir()
	mustLock(t, createVault(t, dir, testOpts(nil)))
	kf, _ := os.ReadFile(filepath.Join(dir, keyFileName))
	tmp := filepath.Join(dir, keyFileName+tmpSuffix)
	if err := os.WriteFile(tmp, kf, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WipeProfile(ctx, dir, testOpts(nil)); err != nil {
		t.Fatal(err)
	}
	if exists(tmp) || exists(filepath.Join(dir, keyFileName)) {
		t.Fatal("a key file survived the erase")
	}
}

// TestVerifyPIN: only the unlock PIN passes; the duress PIN is as wrong as
// any other and erases nothing; the wrong-PIN counter does not move.
func TestVerifyPIN(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	fillSample(t, v)
	if err := v.SetDuressPIN(ctx, duressPIN, DuressDecoy); err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(dir, keyFileName), filepath.Join(dir, stateFileName)}
	read := func() [][]byte {
		var out [][]byte
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
		return out
	}
	before := read()
	if err := v.VerifyPIN(ctx, pin); err != nil {
		t.Fatalf("the unlock PIN: %v", err)
	}
	wantErr(t, v.VerifyPIN(ctx, duressPIN), ErrWrongPIN)
	wantErr(t, v.VerifyPIN(ctx, []byte("5678")), ErrWrongPIN)
	if after := read(); !bytes.Equal(before[0], after[0]) || !bytes.Equal(before[1], after[1]) {
		t.Fatal("VerifyPIN changed the key file or the state file")
	}
	if isEmpty(t, v) {
		t.Fatal("the duress PIN given to VerifyPIN erased the vault")
	}
	if err := v.ChangePIN(ctx, []byte("new passphrase")); err != nil {
		t.Fatal(err)
	}
	wantErr(t, v.VerifyPIN(ctx, pin), ErrWrongPIN)
	if err := v.VerifyPIN(ctx, []byte("new passphrase")); err != nil {
		t.Fatalf("the new PIN: %v", err)
	}
	mustLock(t, v)
	wantErr(t, v.VerifyPIN(ctx, pin), ErrLocked)
}

// TestInterruptedEraseFinishes: the erase marker (the key file renamed and
// overwritten with random bytes, spec/vault.md §7.1) that a crash left does
// not block the profile: every next start finishes the erase.
func TestInterruptedEraseFinishes(t *testing.T) {
	noise := bytes.Repeat([]byte{0x5a, 0xc3}, keyFileSize/2)
	for _, start := range []string{"Open", "Create", "WipeProfile"} {
		t.Run(start, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "vault")
			v := createVault(t, dir, testOpts(nil))
			fillSample(t, v)
			mustLock(t, v)
			if err := os.Rename(filepath.Join(dir, keyFileName), filepath.Join(dir, eraseFileName)); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, eraseFileName), noise, 0o600); err != nil {
				t.Fatal(err)
			}
			switch start {
			case "Open":
				_, err := Open(ctx, dir, pin, testOpts(nil))
				wantErr(t, err, ErrNoProfile)
			case "Create":
				mustLock(t, createVault(t, dir, testOpts(nil)))
				mustLock(t, mustOpen(t, dir, pin, testOpts(nil)))
				if exists(filepath.Join(dir, eraseFileName)) {
					t.Error("the erase marker survived")
				}
				return
			case "WipeProfile":
				if err := WipeProfile(ctx, dir, testOpts(nil)); err != nil {
					t.Fatal(err)
				}
			}
			if exists(dir) {
				t.Error("the erase was not finished")
			}
		})
	}
}

// TestDamagedKeyFileIsNeverErased: a key file whose start is wiped
// (zeros, 0xff, random bytes: what a failing disk or a bad copy leaves) is
// reported as corrupt by Open, refused by Create, and nothing of the
// profile changes: damage is never taken for an interrupted erase.
func TestDamagedKeyFileIsNeverErased(t *testing.T) {
	for name, fill := range map[string][]byte{
		"zeros":  make([]byte, 64),
		"ones":   bytes.Repeat([]byte{0xff}, 64),
		"random": bytes.Repeat([]byte{0x5a, 0xc3}, keyFileSize/2),
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "vault")
			v := createVault(t, dir, testOpts(nil))
			fillSample(t, v)
			mustLock(t, v)
			kp := filepath.Join(dir, keyFileName)
			b, err := os.ReadFile(kp)
			if err != nil {
				t.Fatal(err)
			}
			copy(b, fill)
			if err := os.WriteFile(kp, b, 0o600); err != nil {
				t.Fatal(err)
			}
			before := snapshotDir(t, dir)
			_, err = Open(ctx, dir, pin, testOpts(nil))
			wantErr(t, err, ErrCorrupt)
			if _, err := Create(ctx, dir, pin, testOpts(nil)); !errors.Is(err, ErrExists) {
				t.Fatalf("Create over a damaged vault: %v, want ErrExists", err)
			}
			if !sameSnapshot(before, snapshotDir(t, dir)) {
				t.Fatal("the damaged vault was changed")
			}
		})
	}
}

// TestDecoyKeyPrepared: setting the duress PIN derives the decoy's PIN key
// under a new salt and keeps it in the duress slot, and the duress unlock
// writes the decoy's key file with that salt and key, so it runs no second
// Argon2id derivation (spec/vault.md §3.9).
func TestDecoyKeyPrepared(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	if err := v.SetDuressPIN(ctx, duressPIN, DuressDecoy); err != nil {
		t.Fatal(err)
	}
	mustLock(t, v)
	b, _ := os.ReadFile(filepath.Join(dir, keyFileName))
	old, err := parseKeyFile(b)
	if err != nil {
		t.Fatal(err)
	}
	k := old.pinKey(duressPIN)
	_, c := old.openSlots(&k)
	if c.kind != slotDuress || !c.hasDecoy {
		t.Fatal("the duress slot holds no decoy key")
	}
	salt := decoySalt(&c.decoySeed)
	if salt == old.salt || c.dataKey != crypto.PINKey(duressPIN, salt[:], old.params) {
		t.Fatal("the decoy key is not Argon2id(duress PIN, decoy salt)")
	}

	var kdf time.Duration
	o := testOpts(nil)
	o.onPad = func(d, _, _ time.Duration) { kdf = d }
	d := mustOpen(t, dir, duressPIN, o)
	defer d.Lock()
	if kdf <= 0 {
		t.Error("the duress unlock was not padded")
	}
	b, _ = os.ReadFile(filepath.Join(dir, keyFileName))
	kf, err := parseKeyFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if kf.salt != salt || kf.params != old.params {
		t.Fatal("the decoy's key file does not use the prepared salt and the old parameters")
	}
	if i, pc := kf.openSlots(&c.dataKey); i != d.primary || pc.kind != slotPrimary || pc.dataKey != d.dataKey {
		t.Fatal("the prepared decoy key does not open the decoy's primary slot")
	}
}

func TestPadFloor(t *testing.T) {
	for _, c := range []struct{ kdf, want time.Duration }{
		{time.Millisecond, time.Millisecond},
		{100 * time.Millisecond, 100 * time.Millisecond},
		{400 * time.Millisecond, 150 * time.Millisecond},
		{800 * time.Millisecond, 200 * time.Millisecond},
	} {
		if got := padFloor(c.kdf); got != c.want {
			t.Errorf("padFloor(%v) = %v, want %v", c.kdf, got, c.want)
		}
	}
}

// TestLegacyDuressSlot: a duress slot written before the decoy key existed
// still gives a working decoy, under the erased file's salt and without a
// second derivation (spec/vault.md §3.9).
func TestLegacyDuressSlot(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	fillSample(t, v)
	primary := v.primary
	mustLock(t, v)
	name := filepath.Join(dir, keyFileName)
	b, _ := os.ReadFile(name)
	kf, err := parseKeyFile(b)
	if err != nil {
		t.Fatal(err)
	}
	k := kf.pinKey(duressPIN)
	filler, _ := crypto.NewSymKey(nil)
	if err := kf.sealSlot((primary+1)%numSlots, &k, &slotContent{kind: slotDuress, mode: DuressDecoy, dataKey: filler}, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, kf.marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	d := mustOpen(t, dir, duressPIN, testOpts(nil))
	if !isEmpty(t, d) {
		t.Error("the decoy is not empty")
	}
	mustLock(t, d)
	b, _ = os.ReadFile(name)
	if nkf, err := parseKeyFile(b); err != nil || nkf.salt != kf.salt {
		t.Fatalf("decoy key file: %v, or its salt is not the erased file's", err)
	}
	mustLock(t, mustOpen(t, dir, duressPIN, testOpts(nil)))
	_, err = Open(ctx, dir, pin, testOpts(nil))
	wantErr(t, err, ErrWrongPIN)
}
