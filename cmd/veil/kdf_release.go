//go:build !veil_testkdf

package main

import "veil/vault"

// vaultOptions returns the vault options of a new profile: the vault's
// defaults, so its Argon2id cost is vault.DefaultKDF.
func vaultOptions() vault.Options { return vault.Options{} }

// scryptWorkFactor returns the scrypt cost of a backup: age's default.
func scryptWorkFactor() int { return releaseScryptLogN }
