package crypto

// SealOnce encrypts and authenticates pt with ChaCha20-Poly1305 under a key
// that seals exactly one message in its life (a ratchet message key,
// spec/session.md §5.4), with the all-zero nonce, appending the result to
// dst. A (key, nonce) pair is then used once by construction; the caller
// must never pass the same key to SealOnce twice.
func SealOnce(dst []byte, key *SymKey, pt, ad []byte) []byte {
	var nonce [NonceSize]byte
	return Seal(dst, key, &nonce, pt, ad)
}

// OpenOnce opens what SealOnce sealed, appending the plaintext to dst. Any
// failure is ErrAuth.
func OpenOnce(dst []byte, key *SymKey, ct, ad []byte) ([]byte, error) {
	var nonce [NonceSize]byte
	return Open(dst, key, &nonce, ct, ad)
}
