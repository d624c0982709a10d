package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"veil/crypto"
)

// DuressMode is what a duress unlock does after erasing, spec/vault.md §7.3.
type DuressMode byte

const (
	// DuressDecoy (the default) returns a fresh, empty vault under the
	// duress PIN, exactly as a normal unlock returns the real one.
	DuressDecoy DuressMode = 1
	// DuressReset returns ErrErased: the user's coercer learns that the
	// data is gone, so further coercion has no point.
	DuressReset DuressMode = 2
)

// SetDuressPIN sets (or replaces) the duress PIN. Every slot but the
// primary one is refilled with random bytes and one of them, chosen at
// random, is sealed for pin, so the key file has the same size and shape
// with or without a duress PIN (spec/vault.md §3). It costs two Argon2id
// derivations: the slot's key, and the decoy's key that a duress unlock
// will use (§3.9). A pin equal to the unlock PIN is refused with ErrBadPIN.
func (v *Vault) SetDuressPIN(ctx context.Context, pin []byte, mode DuressMode) error {
	mode, err := duressMode(mode)
	if err != nil {
		return err
	}
	if err := CheckPIN(pin); err != nil {
		return err
	}
	return v.rewriteSlots(ctx, pin, func(kf *keyFile, k *crypto.SymKey, r io.Reader) error {
		idx, c := kf.openSlots(k)
		c.dataKey.Wipe()
		if idx == v.primary {
			return fmt.Errorf("%w: the duress PIN must differ from the unlock PIN", ErrBadPIN)
		}
		_, err := sealDuress(kf, k, pin, v.primary, mode, r)
		return err
	})
}

// duressMode returns mode with zero read as DuressDecoy, or an error for
// an unknown mode.
func duressMode(mode DuressMode) (DuressMode, error) {
	if mode == 0 {
		mode = DuressDecoy
	}
	if mode != DuressDecoy && mode != DuressReset {
		return 0, fmt.Errorf("vault: unknown duress mode %d", mode)
	}
	return mode, nil
}

// checkDuress checks a duress PIN given at creation, before anything is
// written: SetDuressPIN's checks, with the unlock PIN at hand to compare
// instead of a key file to open. It returns the mode to use.
func checkDuress(pin, duress []byte, mode DuressMode) (DuressMode, error) {
	mode, err := duressMode(mode)
	if err != nil {
		return 0, err
	}
	if err := CheckPIN(duress); err != nil {
		return 0, err
	}
	if crypto.Equal(pin, duress) {
		return 0, fmt.Errorf("%w: the duress PIN must differ from the unlock PIN", ErrBadPIN)
	}
	return mode, nil
}

// duressKeys is CreateWithDuress's key file: pinKeys's, then the duress
// slot for duress sealed by sealDuress exactly as SetDuressPIN seals it,
// before the file is first written (spec/vault.md §3.8 item 2).
func duressKeys(pin, duress []byte, mode DuressMode, p crypto.Argon2Params) newKeys {
	primaryKeys := pinKeys(pin, p)
	return func(dataKey *crypto.SymKey, r io.Reader) (*keyFile, int, error) {
		kf, primary, err := primaryKeys(dataKey, r)
		if err != nil {
			return nil, 0, err
		}
		k := kf.pinKey(duress)
		defer k.Wipe()
		if _, err := sealDuress(kf, &k, duress, primary, mode, r); err != nil {
			return nil, 0, err
		}
		return kf, primary, nil
	}
}

// sealDuress refills every non-primary slot and seals a duress slot for
// pin, whose key for kf is k, into one of them chosen at random
// (spec/vault.md §3.4). The slot also holds the decoy's PIN key, derived
// now under a fresh salt so that a duress unlock needs no second Argon2id
// derivation (§3.9). It returns the duress slot's index.
func sealDuress(kf *keyFile, k *crypto.SymKey, pin []byte, primary int, mode DuressMode, r io.Reader) (int, error) {
	slot, err := refillOthers(kf, primary, r)
	if err != nil {
		return 0, err
	}
	c := slotContent{kind: slotDuress, mode: mode, hasDecoy: true}
	if err := crypto.RandomBytes(r, c.decoySeed[:]); err != nil {
		return 0, err
	}
	salt := decoySalt(&c.decoySeed)
	c.dataKey = crypto.PINKey(pin, salt[:], kf.params)
	defer c.dataKey.Wipe()
	return slot, kf.sealSlot(slot, k, &c, r)
}

// RemoveDuressPIN refills every non-primary slot with random bytes. It
// needs no PIN and costs no Argon2id derivation.
func (v *Vault) RemoveDuressPIN(ctx context.Context) error {
	return v.rewriteSlots(ctx, nil, func(kf *keyFile, _ *crypto.SymKey, r io.Reader) error {
		_, err := refillOthers(kf, v.primary, r)
		return err
	})
}

// ChangePIN replaces the unlock PIN. A pin equal to the duress PIN is
// refused with ErrBadPIN. It costs one Argon2id derivation.
func (v *Vault) ChangePIN(ctx context.Context, pin []byte) error {
	if err := CheckPIN(pin); err != nil {
		return err
	}
	return v.rewriteSlots(ctx, pin, func(kf *keyFile, k *crypto.SymKey, r io.Reader) error {
		idx, c := kf.openSlots(k)
		c.dataKey.Wipe()
		if idx >= 0 && idx != v.primary {
			return fmt.Errorf("%w: the unlock PIN must differ from the duress PIN", ErrBadPIN)
		}
		return kf.sealSlot(v.primary, k, &slotContent{kind: slotPrimary, dataKey: v.dataKey}, r)
	})
}

// VerifyPIN reports whether pin is the unlock PIN of this open vault: nil,
// or ErrWrongPIN for any other PIN, the duress PIN included, so the answer
// says nothing about the other slots (spec/vault.md §3.7). Callers ask for
// it before changing what unlocks the vault. It costs one Argon2id
// derivation and does not count towards the wrong-PIN limit: the vault is
// already unlocked, and the key file allows the same guess offline.
func (v *Vault) VerifyPIN(ctx context.Context, pin []byte) error {
	release, err := v.use()
	if err != nil {
		return err
	}
	defer release()
	kf, err := readKeyFile(ctx, filepath.Join(v.dir, keyFileName))
	if err != nil {
		return err
	}
	k := kf.pinKey(pin)
	idx, c := kf.openSlots(&k)
	k.Wipe()
	c.dataKey.Wipe()
	if idx < 0 || idx != v.primary {
		return ErrWrongPIN
	}
	return nil
}

// readKeyFile reads and parses the key file at name, then checks ctx
// (the caller's next step is a slow Argon2id derivation).
func readKeyFile(ctx context.Context, name string) (*keyFile, error) {
	b, err := readSmallFile(name, keyFileSize)
	if err != nil {
		return nil, err
	}
	kf, err := parseKeyFile(b)
	if err != nil {
		return nil, err
	}
	return kf, ctx.Err()
}

// rewriteSlots reads the key file, derives the key for pin (when given),
// lets edit change the slots, and writes the file back atomically.
func (v *Vault) rewriteSlots(ctx context.Context, pin []byte, edit func(*keyFile, *crypto.SymKey, io.Reader) error) error {
	release, err := v.use()
	if err != nil {
		return err
	}
	defer release()
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	name := filepath.Join(v.dir, keyFileName)
	kf, err := readKeyFile(ctx, name)
	if err != nil {
		return err
	}
	var k crypto.SymKey
	if pin != nil {
		k = kf.pinKey(pin)
		defer k.Wipe()
	}
	if err := edit(kf, &k, v.opts.Rand); err != nil {
		return err
	}
	if err := writeFileAtomic(name, kf.marshal()); err != nil {
		return err
	}
	if v.opts.onKeyWrite != nil {
		v.opts.onKeyWrite()
	}
	return nil
}

// refillOthers overwrites every non-primary slot with random bytes, in
// index order, and returns one of them chosen at random from one more byte
// (spec/vault.md §3.8).
func refillOthers(kf *keyFile, primary int, r io.Reader) (int, error) {
	for i := range kf.slots {
		if i != primary {
			if err := crypto.RandomBytes(r, kf.slots[i][:]); err != nil {
				return 0, err
			}
		}
	}
	var b [1]byte
	if err := crypto.RandomBytes(r, b[:]); err != nil {
		return 0, err
	}
	return (primary + 1 + int(b[0])%(numSlots-1)) % numSlots, nil
}

// SetPolicy stores the wrong-PIN and dead-man erase policy in the state
// file (spec/vault.md §5). The state file is read before unlock, so the
// policy is visible to anyone holding the disk.
func (v *Vault) SetPolicy(p Policy) error {
	if !validPolicy(p) {
		return fmt.Errorf("vault: policy out of range")
	}
	release, err := v.use()
	if err != nil {
		return err
	}
	defer release()
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	name := filepath.Join(v.dir, stateFileName)
	st, err := readState(name)
	if err != nil {
		return err
	}
	st.policy = p
	st.policy.DeadMan = p.DeadMan.Truncate(time.Second)
	st.lastUnlock = 0
	now := v.opts.now()
	if st.policy.DeadMan > 0 {
		st.lastUnlock = now.Unix()
	}
	if err := writeState(name, st); err != nil {
		return err
	}
	v.inUseMarked = now
	return nil
}

// Policy returns the stored erase policy.
func (v *Vault) Policy() (Policy, error) {
	release, err := v.use()
	if err != nil {
		return Policy{}, err
	}
	defer release()
	st, err := readState(filepath.Join(v.dir, stateFileName))
	if err != nil {
		return Policy{}, err
	}
	return st.policy, nil
}

// Wipe crypto-erases the open vault (the panic key). The key slots are
// overwritten first, without waiting for calls in progress; then, once
// they have finished, a second time (a PIN change in flight could have
// renamed a new key file into place), and Badger is closed, the data
// directory, the lock file and the then empty profile directory removed,
// and the vault locked. Afterwards nothing of the vault remains.
func (v *Vault) Wipe() error {
	if v.locked.Load() {
		return ErrLocked
	}
	e := newEraser(v.dir, &v.opts)
	e.keys()
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return errors.Join(e.err(), ErrLocked)
	}
	e.keys()
	v.mu.Unlock()
	lerr := v.lockThen(false, func(pl *profileLock) {
		e.contents()
		e.finish(pl)
	})
	return errors.Join(e.err(), lerr)
}

// WipeProfile crypto-erases the locked vault in dir without a PIN (the
// `veil wipe` command); it also finishes an erase interrupted by a crash.
// Afterwards nothing of the vault remains. It fails with ErrBusy while the
// vault is open.
func WipeProfile(ctx context.Context, dir string, opts *Options) error {
	o := resolve(opts)
	if ok, err := present(dir); err != nil || !ok {
		return err
	}
	pl, err := lockProfile(filepath.Join(dir, lockFileName))
	if err != nil {
		return err
	}
	defer pl.release()
	if err := ctx.Err(); err != nil {
		return err
	}
	e := newEraser(dir, &o)
	e.contents()
	e.finish(pl)
	return e.err()
}

// duressUnlock runs spec/vault.md §7.2: erase, then decoy or reset. The
// caller holds the profile lock pl; in decoy mode the erase moves it to a
// new lock file, which the decoy Vault takes over. kf is the erased key
// file, k the duress PIN's key for it and c the duress slot's content:
// they give the decoy's key file without another Argon2id derivation
// (§3.9).
func duressUnlock(ctx context.Context, dir string, kf *keyFile, k *crypto.SymKey, c *slotContent, o Options, pl *profileLock) (*Vault, error) {
	ctx = context.WithoutCancel(ctx) // an erase once begun is finished
	e := newEraser(dir, &o)
	e.contents()
	if o.afterErase != nil {
		o.afterErase()
	}
	if c.mode == DuressReset {
		e.finish(pl)
		if err := e.undone(); err != nil {
			return nil, fmt.Errorf("%w, but not completely: %v", ErrErased, notWritten(err))
		}
		return nil, ErrErased
	}
	// A failed directory fsync does not stop the decoy: the unlinks were
	// done. Nothing the unlock returns names the erase.
	if err := e.undone(); err != nil {
		return nil, notWritten(err)
	}
	npl, err := e.renew(pl)
	if err != nil {
		return nil, err
	}
	v, err := createLocked(ctx, dir, o, npl, decoyKeys(kf, k, c), nil)
	if err != nil {
		npl.release()
		return nil, err
	}
	return v, nil
}

// eraseAndReport erases the profile for the wrong-PIN limit or the dead-man
// timer and returns ErrErased. The caller holds pl.
func eraseAndReport(dir string, o Options, pl *profileLock) error {
	e := newEraser(dir, &o)
	e.contents()
	if o.afterErase != nil {
		o.afterErase()
	}
	e.finish(pl)
	if err := e.err(); err != nil {
		return fmt.Errorf("%w, but not completely: %v", ErrErased, err)
	}
	return ErrErased
}
