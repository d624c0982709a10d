package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"

	"veil/crypto"
)

// DefaultKDF is the Argon2id cost of a new vault, chosen by measurement
// (spec/vault.md §4.2): RFC 9106's second recommended option (t=3, p=4)
// with memory raised from 64 MiB to 256 MiB. A first unlock in a fresh
// process took 0.8–0.9 s on the project's 2-core machine
// (BenchmarkVaultUnlock -benchtime=1x), a repeated one 0.4–0.7 s. It is a
// function, not a variable, so that no importer can lower the cost.
func DefaultKDF() crypto.Argon2Params {
	return crypto.Argon2Params{Time: 3, MemKiB: 256 * 1024, Threads: 4}
}

// MinPINLen is the shortest PIN or passphrase accepted, in characters.
const MinPINLen = 4

// Tuning defaults (not part of the format).
const (
	defaultGCInterval     = 10 * time.Minute
	defaultIndexCacheSize = 16 << 20
	defaultBlockCacheSize = 32 << 20 // Badger needs one with encryption; its default is 256 MiB
	defaultMemTableSize   = 16 << 20
	defaultVlogFileSize   = 64 << 20
	valueThreshold        = 64 << 10 // larger values go to the value log
	gcDiscardRatio        = 0.5
	gcMaxRuns             = 16 // value-log GC runs per tick
)

// Options configures Create and Open. The zero value is the production
// configuration; tests pass small KDF parameters and a fixed clock.
type Options struct {
	// KDF is the Argon2id cost for a new key file (Create, Restore; the
	// decoy vault of a duress unlock keeps the old file's cost). Zero means
	// DefaultKDF, which production code should always use: anything
	// cheaper makes offline PIN guessing cheaper. Open always uses the
	// parameters stored in the key file.
	KDF crypto.Argon2Params
	// Rand is the source of randomness; nil means crypto/rand.
	Rand io.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// GCInterval is how often Badger's value-log GC runs; zero means every
	// 10 minutes, negative disables it.
	GCInterval time.Duration
	// MemTableSize is Badger's memtable size; zero means 16 MiB.
	MemTableSize int64
	// RepairManifest lets Open proceed when Badger's MANIFEST ends in a
	// partial record (spec/vault.md §8.5), as a power loss during a write
	// can leave it. Badger then cuts the record off and deletes any table
	// the manifest no longer lists. Without it, Open reports ErrCorrupt and
	// changes nothing; a client sets it only when the user asks to repair.
	RepairManifest bool
	// FreeSpace, when set, is what Vault.FreeSpace reports for the
	// profile directory dir instead of asking the filesystem (tests: a
	// nearly full disk). It only reports numbers; nil asks the system.
	FreeSpace func(dir string) (avail, total int64, err error)

	// onDuress and afterErase (tests and benchmarks only) are called the
	// moment a duress PIN is recognised, and the moment an erase has
	// destroyed the key slots and removed the data directory. eraseStep
	// (tests only) is called after every step of an erase that changes the
	// disk (spec/vault.md §7.1).
	onDuress, afterErase, eraseStep func()
	// onPad (tests and benchmarks only) is told, at the end of every PIN
	// trial, how long the derivation took and the work after it
	// (spec/vault.md §5.4).
	onPad func(kdf, work, floor time.Duration)
	// padUntil is when the current PIN trial's padding ends (§5.4): an
	// erase it runs frees its files' blocks only afterwards.
	padUntil time.Time
	// onKeyWrite (tests only) is called after every write of the key file
	// by Create or a change of PIN or duress PIN.
	onKeyWrite func()
	// onRestoreLoaded (tests only) is called by Restore once the backup
	// stream is loaded, before the restore mark is written.
	onRestoreLoaded func()
	// beforeUnlink (tests only) is called after a commit that deleted
	// file records, before their blobs are unlinked.
	beforeUnlink func()
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Options) kdf() crypto.Argon2Params {
	if o.KDF == (crypto.Argon2Params{}) {
		return DefaultKDF()
	}
	return o.KDF
}

// Vault is an unlocked profile. It is safe for concurrent use.
type Vault struct {
	dir  string
	opts Options

	// mu guards closed and the handles below against Lock; readers hold it
	// shared for the length of a call.
	mu      sync.RWMutex
	closed  bool
	locked  atomic.Bool // closed, readable without waiting for mu (Wipe)
	db      *badger.DB
	dataKey crypto.SymKey
	keys    *chatKeys
	plock   *profileLock
	primary int // index of the primary slot in the key file

	writeMu    sync.Mutex // serialises Update, so Badger never reports conflicts
	superseded []string   // state keys no committed record uses; guarded by writeMu (§6.6)
	// deliverySwept is when SweepExpired last swept delivery IDs; guarded
	// by writeMu.
	deliverySwept time.Time
	// inUseMarked is when the dead-man timer's time was last recorded
	// (unlock, or SweepExpired); guarded by writeMu.
	inUseMarked time.Time
	idx         searchIndex

	// blobMu guards freshBlobs: blobs this Vault created, which
	// SweepOrphanBlobs keeps until a record names them or they are unlinked.
	blobMu     sync.Mutex
	freshBlobs map[string]bool
	// sweepRead, when set, runs in SweepOrphanBlobs after the file
	// records were read (tests: a record committed meanwhile).
	sweepRead func()

	stop   context.CancelFunc // stops the goroutines below
	wg     sync.WaitGroup     // the GC loop
	gcRuns atomic.Int64       // GC ticks handled, for tests
}

// CheckPIN reports whether pin is acceptable as a new PIN or passphrase:
// at least MinPINLen characters of valid UTF-8. spec/vault.md §4.3 tells
// users that only a passphrase resists an offline attack.
func CheckPIN(pin []byte) error {
	if !utf8.Valid(pin) || utf8.RuneCount(pin) < MinPINLen {
		return fmt.Errorf("%w: use at least %d digits, or a passphrase", ErrBadPIN, MinPINLen)
	}
	return nil
}

// Create makes a new vault in dir (created if needed) protected by pin and
// returns it unlocked. It fails with ErrExists if dir already holds one.
func Create(ctx context.Context, dir string, pin []byte, opts *Options) (*Vault, error) {
	return CreateWithDuress(ctx, dir, pin, nil, 0, opts)
}

// CreateWithDuress is Create with a duress PIN, duress, and its mode (zero:
// DuressDecoy), unless duress is nil. The duress slot is sealed before the
// key file is first written, so the file is written once and no copy
// without the duress slot is left in freed disk blocks (spec/vault.md §3.8).
// A duress PIN that is too short or equal to pin is refused with ErrBadPIN
// before anything is written.
func CreateWithDuress(ctx context.Context, dir string, pin, duress []byte, mode DuressMode, opts *Options) (*Vault, error) {
	return create(ctx, dir, pin, duress, mode, opts, nil)
}

// create is CreateWithDuress; fill, if not nil, runs on the new vault
// before its key file is written, so that until fill has returned nothing
// can open the vault, and a crash leaves only files that the next Create
// or Open erases as leftovers (spec/vault.md §7.1, §10). If fill fails the
// new vault is erased.
func create(ctx context.Context, dir string, pin, duress []byte, mode DuressMode, opts *Options, fill func(*Vault) error) (*Vault, error) {
	o := resolve(opts)
	if err := CheckPIN(pin); err != nil {
		return nil, err
	}
	mk := pinKeys(pin, o.kdf())
	if duress != nil {
		m, err := checkDuress(pin, duress, mode)
		if err != nil {
			return nil, err
		}
		mk = duressKeys(pin, duress, m, o.kdf())
	}
	if err := checkParams(o.kdf()); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("vault: creating profile directory: %w", err)
	}
	pl, err := lockProfile(filepath.Join(dir, lockFileName))
	if err != nil {
		return nil, err
	}
	left, err := leftovers(dir)
	if err != nil {
		pl.release()
		return nil, err
	}
	if left { // an interrupted erase or create: finish the erase
		e := newEraser(dir, &o)
		e.contents()
		if err := e.err(); err != nil {
			pl.release()
			return nil, fmt.Errorf("vault: removing the remains of an erased vault: %w", err)
		}
	} else if key, err := present(filepath.Join(dir, keyFileName)); err != nil || key {
		pl.release()
		if err != nil {
			return nil, err
		}
		return nil, ErrExists
	}
	v, err := createLocked(ctx, dir, o, pl, mk, fill)
	if err != nil {
		pl.release()
		return nil, err
	}
	return v, nil
}

// newKeys builds the key file of a new vault with dataKey sealed in its
// primary slot, and returns it with the primary slot's index.
type newKeys func(dataKey *crypto.SymKey, r io.Reader) (*keyFile, int, error)

// pinKeys is Create's key file: a fresh salt, parameters p, and the
// primary slot sealed for pin (spec/vault.md §3.8 item 1).
func pinKeys(pin []byte, p crypto.Argon2Params) newKeys {
	return func(dataKey *crypto.SymKey, r io.Reader) (*keyFile, int, error) {
		kf, err := newKeyFile(p, r)
		if err != nil {
			return nil, 0, err
		}
		k := kf.pinKey(pin)
		defer k.Wipe()
		i, err := sealPrimary(kf, &k, dataKey, r)
		return kf, i, err
	}
}

// decoyKeys is the key file of a duress unlock's decoy (spec/vault.md
// §3.9): the erased file's parameters, the salt derived from the duress
// slot's seed and the primary slot sealed under the decoy key kept in that
// slot, so no Argon2id runs. A duress slot written without a decoy key
// keeps the erased file's salt and seals under k, the key the unlock
// derived.
func decoyKeys(old *keyFile, k *crypto.SymKey, c *slotContent) newKeys {
	return func(dataKey *crypto.SymKey, r io.Reader) (*keyFile, int, error) {
		kf := &keyFile{params: old.params, salt: old.salt}
		key := k
		if c.hasDecoy {
			kf.salt = decoySalt(&c.decoySeed)
			key = &c.dataKey
		}
		for i := range kf.slots {
			if err := crypto.RandomBytes(r, kf.slots[i][:]); err != nil {
				return nil, 0, err
			}
		}
		i, err := sealPrimary(kf, key, dataKey, r)
		return kf, i, err
	}
}

// createLocked builds a fresh vault in dir, which holds no other part of a
// vault, while the caller holds the profile lock pl, which the returned
// Vault takes over.
func createLocked(ctx context.Context, dir string, o Options, pl *profileLock, mk newKeys, fill func(*Vault) error) (*Vault, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, dataDirName)
	dataKey, err := crypto.NewSymKey(o.Rand)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("vault: creating data directory: %w", err)
	}
	keys, err := newChatKeys(dataDir, &dataKey, o.Rand)
	if err != nil {
		return nil, err
	}
	db, err := openBadger(filepath.Join(dataDir, badgerDirName), &dataKey, &o, true)
	if err != nil {
		return nil, err
	}
	// The key file comes last: until it exists, nothing can open the data.
	kf, primary, err := mk(&dataKey, o.Rand)
	if err != nil {
		db.Close()
		return nil, err
	}
	v := newVault(dir, o, db, dataKey, keys, pl, primary)
	dataKey.Wipe()
	if fill != nil {
		if err := fill(v); err != nil {
			// No key file yet: what is on disk is noise; erase it.
			return nil, errors.Join(err, v.Wipe())
		}
	}
	err = writeFileAtomic(filepath.Join(dir, keyFileName), kf.marshal())
	if err == nil && o.onKeyWrite != nil {
		o.onKeyWrite()
	}
	if err == nil {
		st := &state{}
		err = writeState(filepath.Join(dir, stateFileName), st)
	}
	if err != nil {
		if fill != nil {
			return nil, errors.Join(err, v.Wipe())
		}
		v.Lock()
		return nil, err
	}
	return v, nil
}

// sealPrimary seals dataKey under k into a random slot of kf and returns
// the slot's index: one byte b picks slot b mod 4, then the slot's nonce
// is drawn (spec/vault.md §3.8).
func sealPrimary(kf *keyFile, k, dataKey *crypto.SymKey, r io.Reader) (int, error) {
	var b [1]byte
	if err := crypto.RandomBytes(r, b[:]); err != nil {
		return 0, err
	}
	i := int(b[0]) % numSlots
	return i, kf.sealSlot(i, k, &slotContent{kind: slotPrimary, dataKey: *dataKey}, r)
}

// Open unlocks the vault in dir with pin (spec/vault.md §5.1 gives the
// order of the checks). With the duress PIN it erases the vault and, in
// decoy mode, returns a fresh empty vault exactly as a normal unlock does;
// in reset mode it returns ErrErased.
func Open(ctx context.Context, dir string, pin []byte, opts *Options) (*Vault, error) {
	o := resolve(opts)
	key, err := present(filepath.Join(dir, keyFileName))
	if err != nil {
		return nil, err
	}
	if !key {
		left, err := leftovers(dir)
		if err != nil {
			return nil, err
		}
		if left {
			if err := finishErase(dir, o); err != nil {
				return nil, err
			}
		} else {
			// An empty profile directory is the last step of an erase
			// that a crash interrupted (spec/vault.md §7.1); removing it
			// fails harmlessly on one that holds anything.
			os.Remove(dir)
		}
		return nil, ErrNoProfile
	}
	pl, err := lockProfile(filepath.Join(dir, lockFileName))
	if err != nil {
		return nil, err
	}
	v, err := openLocked(ctx, dir, pin, o, pl)
	if err != nil {
		pl.release()
		return nil, err
	}
	return v, nil
}

func openLocked(ctx context.Context, dir string, pin []byte, o Options, pl *profileLock) (*Vault, error) {
	b, err := readSmallFile(filepath.Join(dir, keyFileName), keyFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoProfile
	}
	if err != nil {
		return nil, err
	}
	kf, err := parseKeyFile(b)
	if err != nil {
		return nil, err
	}
	statePath := filepath.Join(dir, stateFileName)
	st, err := readState(statePath)
	if err != nil {
		return nil, err
	}
	now := o.now().Unix()

	// §5.1 step 1: the dead-man timer.
	if d := int64(st.policy.DeadMan / time.Second); d > 0 && st.lastUnlock > 0 && now-st.lastUnlock > d {
		return nil, eraseAndReport(dir, o, pl)
	}
	// §5.1 step 2: back-off. No PIN is tried and the counter stays. A
	// last failure in the future (the clock was set back) counts from now,
	// so a clock change cannot lock the user out for longer than one wait.
	if st.lastFailure > now {
		st.lastFailure = now
		if err := writeState(statePath, st); err != nil {
			return nil, err
		}
	}
	if wait := backoff(st.failures); wait > 0 {
		if until := st.lastFailure + int64(wait/time.Second); now < until {
			return nil, &BackoffError{Wait: time.Duration(until-now) * time.Second}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// §5.1 step 3: count the attempt as failed before the KDF runs, so
	// killing the process mid-derivation does not dodge the counter.
	st.failures++
	st.lastFailure = now
	if err := writeState(statePath, st); err != nil {
		return nil, err
	}
	// §5.4: the padding grows with the number of files the erase of a
	// duress unlock would unlink, counted before any PIN is tried.
	extra := padExtra(dataFiles(dir))
	start := time.Now()
	k := kf.pinKey(pin)
	defer k.Wipe()
	idx, c := kf.openSlots(&k)
	defer c.dataKey.Wipe()
	// §5.4: every outcome of a PIN trial takes as long as the slowest
	// expected one, so a stopwatch does not tell them apart. The deferred
	// call runs last, after the outcome's own work.
	kdf := time.Since(start)
	defer padUnlock(start, kdf, extra, o.onPad)
	o.padUntil = start.Add(kdf + padFloor(kdf) + extra)

	switch {
	case idx < 0:
		if st.policy.WipeAfter > 0 && st.failures >= uint32(st.policy.WipeAfter) {
			return nil, eraseAndReport(dir, o, pl)
		}
		return nil, ErrWrongPIN
	case c.kind == slotDuress:
		if o.onDuress != nil {
			o.onDuress()
		}
		return duressUnlock(ctx, dir, kf, &k, &c, o, pl)
	}

	// The PIN is right: reset the counter before anything else can fail.
	st.failures, st.lastFailure, st.lastUnlock = 0, 0, 0
	if st.policy.DeadMan > 0 {
		st.lastUnlock = now
	}
	if err := writeState(statePath, st); err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, dataDirName)
	keys, err := loadChatKeys(dataDir, &c.dataKey, o.Rand)
	if err != nil {
		return nil, err
	}
	db, err := openBadger(filepath.Join(dataDir, badgerDirName), &c.dataKey, &o, false)
	if err != nil {
		keys.wipe()
		return nil, err
	}
	v := newVault(dir, o, db, c.dataKey, keys, pl, idx)
	v.inUseMarked = time.Unix(now, 0)
	if err := v.finishChatDeletes(ctx); err != nil {
		v.Lock()
		return nil, err
	}
	// Best effort: a blob left behind is noise without its key, which went
	// with its message; the next unlock tries again.
	_ = v.SweepOrphanBlobs()
	return v, nil
}

func resolve(opts *Options) Options {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.GCInterval == 0 {
		o.GCInterval = defaultGCInterval
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = defaultMemTableSize
	}
	return o
}

func newVault(dir string, o Options, db *badger.DB, dataKey crypto.SymKey, keys *chatKeys, pl *profileLock, primary int) *Vault {
	ctx, cancel := context.WithCancel(context.Background())
	v := &Vault{dir: dir, opts: o, db: db, dataKey: dataKey, keys: keys, plock: pl, primary: primary, stop: cancel}
	if o.GCInterval > 0 {
		v.wg.Add(1)
		go v.gcLoop(ctx)
	}
	return v
}

// Lock stops the background work, deletes the state keys of superseded
// records (so only each record's current version stays readable,
// spec/vault.md §6.6), records the time for the dead-man timer when it is
// on (§5.1), closes Badger, zeroes the keys held in memory and releases
// the profile. Zeroing is best effort: Go's garbage collector
// may have copied key bytes, and Badger keeps its own copies, which are
// dropped with it. Lock is idempotent.
func (v *Vault) Lock() error { return v.lockThen(true, nil) }

// lockThen is Lock; Wipe passes dropSuperseded false, as the whole table
// is about to go, and an erase as then, which runs after Badger is closed
// and before the profile lock pl is released (at once if the vault was
// already locked, with pl no longer held).
func (v *Vault) lockThen(dropSuperseded bool, then func(pl *profileLock)) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		if then != nil {
			then(nil)
		}
		return nil
	}
	v.closed = true
	v.locked.Store(true)
	v.stop()
	v.wg.Wait()
	var kerr error
	if dropSuperseded {
		// No Update runs: each holds v.mu shared.
		kerr = errors.Join(v.keys.remove(v.superseded...), v.markInUse(v.opts.now()))
	}
	v.superseded = nil
	err := v.db.Close()
	v.db = nil
	v.dataKey.Wipe()
	v.keys.wipe()
	v.idx.reset()
	if then != nil {
		then(v.plock)
	}
	v.plock.release()
	if err != nil {
		err = fmt.Errorf("vault: closing data directory: %w", err)
	}
	return errors.Join(kerr, err)
}

// inUseEvery is how often SweepExpired records, for the dead-man timer,
// that the unlocked vault is still in use: a process killed while unlocked
// loses at most this much of the period.
const inUseEvery = time.Hour

// markInUse records now in the state file as the dead-man timer's last
// unlock (spec/vault.md §5.0, §5.1), when the timer is on: the period
// counts from the last unlock, lock or hourly mark while unlocked. With
// the timer off the state file is left as it is. The caller holds
// writeMu, or mu exclusively.
func (v *Vault) markInUse(now time.Time) error {
	name := filepath.Join(v.dir, stateFileName)
	st, err := readState(name)
	if err != nil {
		return err
	}
	if st.policy.DeadMan <= 0 {
		return nil
	}
	st.lastUnlock = now.Unix()
	return writeState(name, st)
}

// Dir returns the profile directory.
func (v *Vault) Dir() string { return v.dir }

// use takes the shared lock for one call, failing once the vault is locked.
// The caller must call the returned function.
func (v *Vault) use() (func(), error) {
	v.mu.RLock()
	if v.closed {
		v.mu.RUnlock()
		return nil, ErrLocked
	}
	return v.mu.RUnlock, nil
}

// finishErase completes an erase that a crash interrupted, found by Open
// before any PIN is tried: the profile holds parts of a vault but no usable
// key file (spec/vault.md §7.1).
func finishErase(dir string, o Options) error {
	pl, err := lockProfile(filepath.Join(dir, lockFileName))
	if err != nil {
		return err
	}
	defer pl.release()
	if left, err := leftovers(dir); err != nil || !left { // a Create finished meanwhile
		return err
	}
	e := newEraser(dir, &o)
	e.contents()
	e.finish(pl)
	if err := e.err(); err != nil {
		return fmt.Errorf("vault: removing the remains of an erased vault: %w", err)
	}
	return nil
}
