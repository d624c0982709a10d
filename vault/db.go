package vault

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"veil/crypto"
)

// openBadger opens (or, with create, creates) the Badger directory with
// encryption at rest under dataKey. An existing directory is checked
// first (checkManifest, checkData), so that damage is reported as
// ErrCorrupt before Badger can panic on it or repair it by cutting files
// short; a panic Badger raises all the same on this goroutine is
// recovered and reported as ErrCorrupt too.
func openBadger(path string, dataKey *crypto.SymKey, o *Options, create bool) (db *badger.DB, err error) {
	if !create {
		for _, f := range []string{"MANIFEST", "KEYREGISTRY"} {
			ok, err := present(filepath.Join(path, f))
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, corrupt("data directory is missing or incomplete (no %s)", f)
			}
		}
	}
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, corrupt("data directory: %v", firstLine(r))
		}
	}()
	key := append([]byte(nil), dataKey[:]...) // Badger keeps this slice
	bo := badger.DefaultOptions(path).
		WithEncryptionKey(key).
		WithIndexCacheSize(defaultIndexCacheSize).
		WithBlockCacheSize(defaultBlockCacheSize).
		WithLogger(nil).
		WithSyncWrites(true).
		WithDetectConflicts(false).
		WithNumVersionsToKeep(1).
		WithCompactL0OnClose(false).
		WithMemTableSize(o.MemTableSize).
		WithValueLogFileSize(defaultVlogFileSize).
		WithValueThreshold(valueThreshold).
		WithNumCompactors(2).
		WithChecksumVerificationMode(options.OnBlockRead). // a block damaged after open is an error, not garbage
		WithVerifyValueChecksum(true).
		WithCompression(options.None) // bodies are sealed and do not compress; plain tables keep the scan test honest
	if !create {
		if err := checkManifest(path, bo, o.RepairManifest); err != nil {
			crypto.Wipe(key)
			return nil, err
		}
		if err := dropEmptyLogs(path); err != nil {
			crypto.Wipe(key)
			return nil, fmt.Errorf("vault: data directory: %w", err)
		}
	}
	db, err = badger.Open(bo)
	if err != nil {
		crypto.Wipe(key)
		if strings.Contains(err.Error(), "directory lock") {
			return nil, fmt.Errorf("%w (data directory: %v)", ErrBusy, err)
		}
		if create {
			return nil, fmt.Errorf("vault: creating data directory: %w", err)
		}
		return nil, fmt.Errorf("%w: data directory: %v", ErrCorrupt, err)
	}
	return db, nil
}

// checkManifest replays Badger's MANIFEST read-only and refuses one with
// a damaged tail, unless repair is set. Badger itself would truncate the
// file there and then delete every table the shortened manifest no longer
// lists: the vault must report damage, never destroy data because of it.
// It then checks the files the manifest names (checkData).
func checkManifest(path string, bo badger.Options, repair bool) error {
	fp, err := os.Open(filepath.Join(path, "MANIFEST"))
	if err != nil {
		return corrupt("data directory: %v", err)
	}
	defer fp.Close()
	fi, err := fp.Stat()
	if err != nil {
		return corrupt("data directory: %v", err)
	}
	mf, off, err := replayManifest(fp, bo)
	if err != nil {
		return corrupt("data directory: manifest: %v", err)
	}
	if off != fi.Size() && !repair {
		return corrupt("data directory: manifest ends in a partial record at byte %d of %d (Options.RepairManifest lets Badger cut it off)", off, fi.Size())
	}
	return checkData(path, bo.EncryptionKey, &mf, bo.MemTableSize)
}

// replayManifest is badger.ReplayManifestFile with its panics reported as
// errors.
func replayManifest(fp *os.File, bo badger.Options) (mf badger.Manifest, off int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", firstLine(r))
		}
	}()
	return badger.ReplayManifestFile(fp, bo.ExternalMagicVersion, bo)
}

// gcLoop runs Badger's value-log GC every GCInterval so deleted data leaves
// the disk. Owner: the Vault; it stops when Lock cancels ctx.
func (v *Vault) gcLoop(ctx context.Context) {
	defer v.wg.Done()
	t := time.NewTicker(v.opts.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			v.runGC(ctx)
			v.gcRuns.Add(1)
		}
	}
}

// runGC runs the value-log GC until it finds nothing to rewrite, at most
// gcMaxRuns times.
func (v *Vault) runGC(ctx context.Context) {
	for range gcMaxRuns {
		if ctx.Err() != nil || v.db.RunValueLogGC(gcDiscardRatio) != nil {
			return
		}
	}
}

// Verify reads every block of every table and checks its checksum, which
// Open does not (spec/vault.md §8.6). Damage there is ErrCorrupt here;
// elsewhere Badger's iterators take a block that fails its checksum for
// the end of its table, so its records drop out of listings without an
// error. Verify reads the whole vault, so its cost grows with the vault's
// size: callers run it when the user asks or when the app is idle. ctx is
// checked only before it starts.
func (v *Vault) Verify(ctx context.Context) (err error) {
	release, err := v.use()
	if err != nil {
		return err
	}
	defer release()
	if err := ctx.Err(); err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = corrupt("data directory: %v", firstLine(r))
		}
	}()
	if err := v.db.VerifyChecksum(); err != nil {
		return corrupt("data directory: %v", firstLine(err))
	}
	return nil
}
