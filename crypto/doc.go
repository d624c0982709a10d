// Package crypto is the only package in veil that chooses cryptographic
// primitives. Everything else (ratchet, relay, vault, client) calls the
// typed wrappers here and never imports a primitive directly.
//
// The choices, and why (spec/session.md §1 lists them normatively):
//
//   - X25519 through the standard library's crypto/ecdh.
//   - Ed25519 through crypto/ed25519.
//   - HKDF-SHA256 (crypto/hkdf) for every key derivation that mixes secrets,
//     HMAC-SHA256 for the cheap per-message chain steps.
//   - XChaCha20-Poly1305 and ChaCha20-Poly1305 from golang.org/x/crypto.
//   - AES-256-GCM (crypto/aes, crypto/cipher) for the relay transport's
//     16 KiB blocks only (BlockAEAD, spec/relay.md §5.1), and only where
//     the CPU has AES instructions (HasAESHardware): there it is about
//     three times faster than ChaCha20-Poly1305 and constant-time; the
//     transport falls back to ChaCha20-Poly1305 elsewhere.
//   - ML-KEM-1024 from github.com/cloudflare/circl: the parameter set
//     Signal's PQXDH uses (category 5), with circl's AVX2 code, which is
//     several times faster than the standard library's on our machines.
//   - Argon2id from golang.org/x/crypto/argon2 for PIN-derived keys.
//
// Secret material lives in fixed-size types whose String methods redact
// their contents, so a secret cannot reach a log line through %v. Wipe and
// the Wipe methods zero secrets on a best-effort basis: Go's garbage
// collector may have copied the bytes, and the compiler gives no guarantee.
package crypto
