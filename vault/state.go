package vault

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"time"

	"veil/crypto"
)

// State-file format, spec/vault.md §5. It is read before unlock, so it is
// plaintext: it holds only the wrong-PIN counter, two timestamps and the
// erase policy.
const (
	stateMagic   = "VEILVSTA"
	stateVersion = 1
	stateSize    = 64
)

// Back-off schedule, spec/vault.md §5.2.
const (
	freeAttempts = 3         // wrong PINs before any wait
	maxBackoff   = time.Hour // the wait never grows past this
)

// Policy is the erase policy kept in the state file.
type Policy struct {
	// WipeAfter erases the vault when this many wrong PINs are entered in a
	// row; 0 disables it.
	WipeAfter int
	// DeadMan erases the vault at the first open after it has been
	// neither unlocked nor in use for this long: the period counts from
	// the last unlock, lock or hourly sweep while unlocked. 0 disables it.
	// Rounded down to seconds.
	DeadMan time.Duration
}

// state is the decoded state file.
type state struct {
	failures    uint32
	lastFailure int64 // unix seconds, 0 = none
	lastUnlock  int64 // unix seconds of the last unlock, lock or hourly mark (dead-man on), 0 = not recorded
	policy      Policy
}

func (s *state) marshal() []byte {
	b := make([]byte, stateSize)
	copy(b, stateMagic)
	b[8] = stateVersion
	binary.BigEndian.PutUint32(b[12:], s.failures)
	binary.BigEndian.PutUint64(b[16:], uint64(s.lastFailure))
	binary.BigEndian.PutUint64(b[24:], uint64(s.lastUnlock))
	binary.BigEndian.PutUint32(b[32:], uint32(s.policy.WipeAfter))
	binary.BigEndian.PutUint64(b[36:], uint64(s.policy.DeadMan/time.Second))
	sum := crypto.Hash(b[:56])
	copy(b[56:], sum[:8])
	return b
}

// parseState decodes a state file, spec/vault.md §5. It never panics.
func parseState(b []byte) (*state, error) {
	if len(b) != stateSize {
		return nil, corrupt("state file: %d bytes, want %d", len(b), stateSize)
	}
	if string(b[:8]) != stateMagic {
		return nil, corrupt("state file: bad magic")
	}
	if b[8] != stateVersion {
		return nil, corrupt("state file: unknown version %d", b[8])
	}
	sum := crypto.Hash(b[:56])
	if !crypto.Equal(sum[:8], b[56:]) {
		return nil, corrupt("state file: checksum mismatch")
	}
	for _, c := range append(append([]byte{}, b[9:12]...), b[44:56]...) {
		if c != 0 {
			return nil, corrupt("state file: reserved bytes are not zero")
		}
	}
	wipe := binary.BigEndian.Uint32(b[32:])
	dead := binary.BigEndian.Uint64(b[36:])
	if wipe > 1<<20 || dead > uint64(100*365*24*3600) {
		return nil, corrupt("state file: policy out of range")
	}
	return &state{
		failures:    binary.BigEndian.Uint32(b[12:]),
		lastFailure: int64(binary.BigEndian.Uint64(b[16:])),
		lastUnlock:  int64(binary.BigEndian.Uint64(b[24:])),
		policy:      Policy{WipeAfter: int(wipe), DeadMan: time.Duration(dead) * time.Second},
	}, nil
}

// readState reads the profile's state file. A missing file reads as a
// fresh state (an attacker who deletes it gains nothing they would not get
// from copying the key file: spec/vault.md §5.3).
func readState(name string) (*state, error) {
	b, err := readSmallFile(name, stateSize)
	if errors.Is(err, fs.ErrNotExist) {
		return &state{}, nil
	}
	if err != nil {
		return nil, err
	}
	return parseState(b)
}

func writeState(name string, s *state) error { return writeFileAtomic(name, s.marshal()) }

// backoff returns how long after the last failure the next attempt is
// allowed, given the number of consecutive failures (spec/vault.md §5.2).
func backoff(failures uint32) time.Duration {
	if failures < freeAttempts {
		return 0
	}
	n := failures - freeAttempts
	if n >= 12 { // 2^12 s > 1 h
		return maxBackoff
	}
	return min(time.Duration(1<<n)*time.Second, maxBackoff)
}

// validPolicy checks a Policy given by the user.
func validPolicy(p Policy) bool {
	return p.WipeAfter >= 0 && p.WipeAfter <= 1<<20 && p.DeadMan >= 0 && p.DeadMan <= 100*365*24*time.Hour
}

// secondsDuration converts whole seconds to a Duration.
func secondsDuration(s uint64) time.Duration { return time.Duration(s) * time.Second }
