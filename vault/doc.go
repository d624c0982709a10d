// Package vault is veil's local encrypted store: one profile directory
// holding a small key file, a small pre-unlock state file, and a Badger
// database with Badger's encryption at rest under a random 32-byte data key.
// spec/vault.md is normative; the code cites it by section.
//
// The data key is wrapped in the key file's slots under a key derived from
// the user's PIN or passphrase with Argon2id. One slot may hold a duress
// PIN: unlocking with it crypto-erases the profile (every slot overwritten
// with random bytes and synced, the data directory removed) and, in the
// default decoy mode, returns a fresh empty vault exactly as a normal
// unlock would.
//
// A Vault is safe for concurrent use. Lock zeroes the keys it holds (best
// effort: Go cannot guarantee that no copy remains in memory) and closes
// the database; every method of a locked Vault returns ErrLocked.
//
// Message bodies are sealed under per-chat keys kept in a small key table
// beside Badger (spec/vault.md §6), so deleting a chat makes its messages
// unreadable at once, before Badger ever compacts its files; a message
// with an expiry is sealed under an hourly bucket key of its chat, which
// SweepExpired deletes once the bucket has ended. Profile, contact and group
// records (ratchet states, private keys, relay capabilities) are sealed
// whole under per-record state keys in the same table, rotated on every
// write and deleted with the record or its chat (spec/vault.md §6.6), so
// superseded versions that Badger keeps until compaction cannot be read.
//
// File attachments live outside Badger in blob files under data/files
// (spec/vault.md §6.7), sealed by the client under keys kept in their
// messages' sealed metadata; a blob goes after the commit that deletes its
// file record, and an orphan at the next unlock. WritePlain is the one
// place veil writes a plaintext file the user asked for.
package vault
