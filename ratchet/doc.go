// Package ratchet is veil's session layer: the PQXDH handshake that turns a
// one-time invite bundle into a shared secret, and the Double Ratchet with
// header encryption that protects every message after it. The normative
// description is spec/session.md; the code cites its sections.
//
// The package is a pure state machine: no I/O, no goroutines, no package
// state. Randomness and the clock come from a Config. Every operation that
// fails leaves the Session exactly as it was, so a caller can drop a bad
// message and carry on.
//
// A session starts on two sides:
//
//   - the inviter calls NewBundle, publishes Bundle.Marshal inside its
//     invite and keeps the BundlePrivate (BundlePrivate.Marshal) until the
//     first message arrives, then calls Respond with it and deletes it;
//   - the joiner calls ParseBundle and Initiate, and sends what
//     Session.Encrypt returns.
//
// Until the joiner has heard from the inviter, all its messages are
// initial messages (IsInitial), so whichever arrives first can start the
// session. An inviter that already holds the session passes later ones to
// Session.Decrypt, which accepts them only with the same handshake.
//
// Session.Decrypt returns ErrDuplicate for a message whose key is already
// gone (the client acks and drops it), ErrTooFarAhead for a jump past the
// skipped-key bound, ErrConflictingInitial when an inviter's session
// receives the initial message of a different handshake (someone else
// used the same invite: the client should ask the user to compare safety
// codes) and ErrAuth for anything else that does not authenticate.
// Sessions serialise with Session.Marshal and ParseSession; Marshal and
// Encrypt also drop skipped keys past their TTL.
//
// Sessions from a bundle or reset offer of version 0x02 also run the KEM
// ratchet (spec/session.md §14): ML-KEM-768 keys and ciphertexts travel
// as erasure-coded chunks in the padding of ordinary messages, and each
// epoch's secret is mixed into the root key at a DH ratchet step, so that
// healing after a compromise does not rest on X25519 alone. An older
// session turns it on with Session.EnablePQ or at the first block it
// receives; Session.PQ reports its progress.
package ratchet
