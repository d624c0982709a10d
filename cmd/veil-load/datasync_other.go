//go:build !linux

package main

import "os"

// datasync syncs f: fsync(2) where fdatasync(2) is not offered.
func datasync(f *os.File) error { return f.Sync() }
