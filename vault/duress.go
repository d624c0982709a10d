package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
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
// with or without a duress PIN (spec/vault.md §3). It costs one Argon2id
// derivation. A pin equal to the unlock PIN is refused with ErrBadPIN.
func (v *Vault) SetDuressPIN(ctx context.Context, pin []byte, mode DuressMode) error {
	if mode == 0 {
		mode = DuressDecoy
	}
	if mode != DuressDecoy && mode != DuressReset {
		return fmt.Errorf("vault: unknown duress mode %d", mode)
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
		_, err := sealDuress(kf, k, v.primary, mode, r)
		return err
	})
}

// sealDuress refills every non-primary slot and seals a duress slot under
// k into one of them chosen at random (spec/vault.md §3.4). It returns the
// duress slot's index.
func sealDuress(kf *keyFile, k *crypto.SymKey, primary int, mode DuressMode, r io.Reader) (int, error) {
	slot, err := refillOthers(kf, primary, r)
	if err != nil {
		return 0, err
	}
	filler, err := crypto.NewSymKey(r)
	if err != nil {
		return 0, err
	}
	defer filler.Wipe()
	return slot, kf.sealSlot(slot, k, &slotContent{kind: slotDuress, mode: mode, dataKey: filler}, r)
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
	return writeFileAtomic(name, kf.marshal())
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
	if st.policy.DeadMan > 0 {
		st.lastUnlock = v.opts.now().Unix()
	}
	return writeState(name, st)
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
// directory removed and the vault locked. Afterwards the directory holds
// no vault.
func (v *Vault) Wipe() error {
	if v.locked.Load() {
		return ErrLocked
	}
	kerr := eraseKeys(v.dir, v.opts.Rand)
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return errors.Join(kerr, ErrLocked)
	}
	kerr = errors.Join(kerr, eraseKeys(v.dir, v.opts.Rand))
	v.mu.Unlock()
	lerr := v.lock(false)
	trash, merr := moveData(v.dir, v.opts.Rand)
	if trash != "" {
		if err := os.RemoveAll(trash); err != nil && merr == nil {
			merr = fmt.Errorf("vault: removing erased data: %w", err)
		}
	}
	return errors.Join(kerr, lerr, merr)
}

// WipeProfile crypto-erases the locked vault in dir without a PIN (the
// `veil wipe` command). It fails with ErrBusy while the vault is open.
func WipeProfile(ctx context.Context, dir string, opts *Options) error {
	o := resolve(opts)
	pl, err := lockProfile(filepath.Join(dir, lockFileName))
	if err != nil {
		return err
	}
	defer pl.release()
	if err := ctx.Err(); err != nil {
		return err
	}
	trash, err := eraseProfile(dir, o.Rand)
	if trash != "" {
		if rerr := os.RemoveAll(trash); rerr != nil && err == nil {
			err = fmt.Errorf("vault: removing erased data: %w", rerr)
		}
	}
	return err
}

// duressUnlock runs spec/vault.md §7.2: erase, then decoy or reset. The
// caller holds the profile lock pl; the decoy Vault takes it over.
func duressUnlock(ctx context.Context, dir string, pin []byte, p crypto.Argon2Params, mode DuressMode, o Options, pl *profileLock) (*Vault, error) {
	ctx = context.WithoutCancel(ctx) // an erase once begun is finished
	trash, err := eraseProfile(dir, o.Rand)
	if o.afterErase != nil {
		o.afterErase()
	}
	if err != nil {
		return nil, fmt.Errorf("vault: erase incomplete: %w", err)
	}
	if mode == DuressReset {
		if trash != "" {
			os.RemoveAll(trash)
		}
		return nil, ErrErased
	}
	v, err := createLocked(ctx, dir, pin, p, o, pl)
	if err != nil {
		return nil, err
	}
	if trash != "" {
		v.removeInBackground(trash)
	}
	return v, nil
}

// eraseAndReport erases the profile for the wrong-PIN limit or the dead-man
// timer and returns ErrErased.
func eraseAndReport(dir string, o Options) error {
	trash, err := eraseProfile(dir, o.Rand)
	if o.afterErase != nil {
		o.afterErase()
	}
	if trash != "" {
		os.RemoveAll(trash)
	}
	if err != nil {
		return fmt.Errorf("%w, but not completely: %v", ErrErased, err)
	}
	return ErrErased
}

// eraseProfile is spec/vault.md §7.1: destroy the key slots, then move the
// data directory to a random sibling name, which the caller removes. It
// returns that name ("" if there was no data directory). Steps continue
// after a failure so as much as possible is destroyed.
func eraseProfile(dir string, r io.Reader) (string, error) {
	kerr := eraseKeys(dir, r)
	trash, merr := moveData(dir, r)
	return trash, errors.Join(kerr, merr)
}

// eraseKeys overwrites the key file (and any temporary copy of it) in
// place with random bytes, fsyncs it, then unlinks it and the state file
// and fsyncs the directory. After it returns, the data key exists nowhere
// on disk (§7.1 steps 1–2).
func eraseKeys(dir string, r io.Reader) error {
	var errs []error
	for _, name := range []string{keyFileName, keyFileName + tmpSuffix} {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		n := fi.Size()
		if n <= 0 || n > 1<<20 {
			n = keyFileSize
		}
		noise := make([]byte, n)
		if err := crypto.RandomBytes(r, noise); err != nil {
			errs = append(errs, err)
		} else if err := overwriteInPlace(p, noise); err != nil {
			errs = append(errs, err)
		}
		if err := os.Remove(p); err != nil {
			errs = append(errs, fmt.Errorf("vault: removing key file: %w", err))
		}
	}
	for _, name := range []string{stateFileName, stateFileName + tmpSuffix} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("vault: removing state file: %w", err))
		}
	}
	if err := syncDir(dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// moveData renames the data directory to a random sibling name and fsyncs
// the profile directory (§7.1 step 3). Removing it can take long on a big
// vault; it is already unreadable, so the caller may do it later.
func moveData(dir string, r io.Reader) (string, error) {
	src := filepath.Join(dir, dataDirName)
	if !exists(src) {
		return "", nil
	}
	trash, err := trashName(dir, r)
	if err != nil {
		return "", err
	}
	if err := os.Rename(src, trash); err != nil {
		return "", fmt.Errorf("vault: moving data directory away: %w", err)
	}
	return trash, syncDir(dir)
}
