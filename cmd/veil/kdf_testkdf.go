//go:build veil_testkdf

package main

import (
	"os"
	"time"

	"veil/crypto"
	"veil/vault"
)

// This file is compiled only into the binaries the end-to-end tests build
// (go build -tags veil_testkdf): with fastKDFEnv=1 in the environment, PIN
// and backup passphrase cost next to nothing, so hundreds of veil processes
// run in seconds. A release build has kdf_release.go instead.

// vaultOptions returns the vault options of a new profile: a tiny Argon2id
// cost and no value-log GC under fastKDFEnv=1, the defaults otherwise;
// the vault's clock runs clockSkewEnv ahead when that is set.
func vaultOptions() vault.Options {
	var o vault.Options
	if os.Getenv(fastKDFEnv) == "1" {
		o.KDF = crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}
		o.GCInterval = -1
	}
	if skew, err := time.ParseDuration(os.Getenv(clockSkewEnv)); err == nil && skew != 0 {
		o.Now = func() time.Time { return time.Now().Add(skew) }
	}
	return o
}

// scryptWorkFactor returns the scrypt cost of a backup: 2^10 under
// fastKDFEnv=1, age's default otherwise.
func scryptWorkFactor() int {
	if os.Getenv(fastKDFEnv) == "1" {
		return 10
	}
	return releaseScryptLogN
}
