package main

// fastKDFEnv names the switch that test builds read (kdf_testkdf.go): set
// to 1, new vaults get a tiny Argon2id cost and backups a tiny scrypt cost,
// which makes a PIN as cheap to guess as it is to type. A release build
// (kdf_release.go) never reads it.
const fastKDFEnv = "VEIL_INSECURE_FAST_KDF"

// clockSkewEnv names a second switch of test builds only: a duration
// (such as 48h) added to the vault's clock, so a test can let the dead-man
// timer run out without waiting. A release build never reads it.
const clockSkewEnv = "VEIL_INSECURE_CLOCK_SKEW"

// releaseScryptLogN is the scrypt cost (log2 N) of a backup's passphrase
// stanza: age's own default.
const releaseScryptLogN = 18
