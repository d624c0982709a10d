package vault

// FreeSpace reports the filesystem holding the profile: the bytes an
// unprivileged process may still write there (avail) and its size
// (total). Where the system offers no way to ask, the error is
// errors.ErrUnsupported. With Options.FreeSpace set, it reports what that
// returns instead.
func (v *Vault) FreeSpace() (avail, total int64, err error) {
	if v.locked.Load() {
		return 0, 0, ErrLocked
	}
	if v.opts.FreeSpace != nil {
		return v.opts.FreeSpace(v.dir)
	}
	return freeSpace(v.dir)
}
