package client

import (
	"errors"
	"fmt"

	"veil/vault"
)

// What downloads leave free on the filesystem holding the profile
// (spec/client.md §5.16): auto-download never takes the last
// max(diskReserveMin, diskReservePercent of the filesystem), so files
// that arrive on their own cannot fill the disk the vault writes to; a
// download the user asks for leaves diskMargin.
const (
	diskReserveMin     = 1_000_000_000
	diskReservePercent = 5
	diskMargin         = 64_000_000
	settingDiskPaused  = "files/disk_paused/" // + chat ID: the user was told auto-download is paused
)

// diskReserve is what auto-download leaves free on a filesystem of total
// bytes.
func diskReserve(total int64) int64 {
	return max(diskReserveMin, total/100*diskReservePercent)
}

// blobNeed is what the blob of a file of chunks chunks still takes on
// the disk once the first done of its upload order are in (a blob is
// sparse until its chunks are written).
func blobNeed(chunks, done uint32) int64 {
	if done >= chunks {
		return 0
	}
	return int64(chunks-done) * vault.BlobChunkSize
}

// diskRoom reports whether need more bytes leave free on the profile's
// filesystem the reserve (auto) or diskMargin, with the bytes available
// and the reserve. A system that cannot tell its free space
// (errors.ErrUnsupported) has room, as before the check; any other
// failure to ask pauses auto-download and lets a download the user asked
// for go ahead (its writes fail if the disk is full).
func (e *Engine) diskRoom(need int64, auto bool) (ok bool, avail, reserve int64) {
	avail, total, err := e.v.FreeSpace()
	if errors.Is(err, errors.ErrUnsupported) {
		return true, 0, 0
	}
	if err != nil {
		return !auto, 0, diskReserveMin
	}
	keep := int64(diskMargin)
	reserve = diskReserve(total)
	if auto {
		keep = reserve
	}
	return avail-need >= keep, avail, reserve
}

// autoPausedText says in the user's words why auto-download paused.
func autoPausedText(reserve int64) string {
	return "auto-download paused: less than " + FormatSize(reserve) + " would be left on the disk; files stay offered and can be downloaded by hand"
}

// errNoDiskRoom is why a download the user asked for does not start (or
// go on): the file does not fit in the free space.
func errNoDiskRoom(need, avail int64) error {
	return fmt.Errorf("not enough free space on the disk for this file: it needs %s, %s are free and veil keeps %s free", FormatSize(need), FormatSize(max(avail, 0)), FormatSize(diskMargin))
}

// autoPaused ends an auto-download that no longer leaves the reserve
// free: its file went back to offered. It counts as the transfer gone.
type autoPaused struct{ reserve int64 }

func (p *autoPaused) Error() string     { return "client: " + autoPausedText(p.reserve) }
func (p *autoPaused) Is(err error) bool { return err == errXferGone }

// noteDiskPaused records that auto-download in chat paused for the disk,
// and reports whether the user is to be told: once, until an
// auto-download in the chat fits again.
func noteDiskPaused(tx *vault.Tx, chat string) (bool, error) {
	p, err := profile(tx)
	if err != nil {
		return false, err
	}
	if p.Settings[settingDiskPaused+chat] != "" {
		return false, nil
	}
	p.Settings[settingDiskPaused+chat] = "1"
	return true, tx.PutProfile(&p)
}

// clearDiskPaused forgets that auto-download in chat paused for the disk.
func clearDiskPaused(tx *vault.Tx, chat string) error {
	p, err := profile(tx)
	if err != nil {
		return err
	}
	if _, ok := p.Settings[settingDiskPaused+chat]; !ok {
		return nil
	}
	delete(p.Settings, settingDiskPaused+chat)
	return tx.PutProfile(&p)
}

// FormatSize says a size in bytes in decimal units, as every screen of
// veil shows sizes: 812 B, 15.9 kB, 2.4 MB, 1.50 GB.
func FormatSize(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", max(0, n))
	case n < 1_000_000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1_000_000_000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}
