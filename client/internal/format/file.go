package format

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"veil/crypto"
)

// A file descriptor is what a FILE message carries (spec/files.md §4): the
// secret every chunk key and ID derives from, the size and hash of the
// plaintext, the relay slot the chunks wait on, and a sanitised name and
// media type. It never carries a relay address.

// Descriptor limits, spec/files.md §4.
const (
	fileDescVersion = 1
	// fileDescFixed is the descriptor's fixed part: version, slot, secret,
	// size, chunks, hash, expiry, and the two length bytes.
	fileDescFixed = 1 + 1 + crypto.KeySize + 8 + 4 + crypto.HashSize + 8 + 1 + 1
	// MaxFileName bounds a file name in bytes.
	MaxFileName = 255
	// MaxMediaType bounds a media type in bytes.
	MaxMediaType = 64
	// MaxFileDescriptor is the largest encoded descriptor (407 bytes).
	MaxFileDescriptor = fileDescFixed + MaxMediaType + MaxFileName
)

// Kinds of refused descriptor; callers branch on them with errors.Is. The
// error a check returns is a *FileError whose text says why in the user's
// words, to follow "veil refused a file: ".
var (
	ErrFileName    = errors.New("client: bad file name")
	ErrFileType    = errors.New("client: bad media type")
	ErrFileSize    = errors.New("client: bad file size")
	ErrFileVersion = errors.New("client: unknown file descriptor version")
	// errFileMalformed: lengths that do not add up, a negative expiry.
	errFileMalformed = errors.New("client: malformed file descriptor")
)

// FileError is why a file descriptor or name was refused. Its Error is a
// phrase about the file ("its name contains a path") that reads after
// "veil refused a file: "; it unwraps to one of the ErrFile kinds.
type FileError struct {
	Kind   error
	Reason string
}

func (e *FileError) Error() string { return e.Reason }
func (e *FileError) Unwrap() error { return e.Kind }

func fileErr(kind error, reason string) error { return &FileError{Kind: kind, Reason: reason} }

// FileDescriptor is one decoded file descriptor. Secret must be kept
// secret; Wipe it when done.
type FileDescriptor struct {
	// Slot is the index of the relay the chunks are on in the chat's relay
	// list as both sides number it (1:1: the mailbox slot; group: the
	// group's relay list, 0 = primary).
	Slot    uint8
	Secret  crypto.FileSecret
	Size    int64
	Chunks  uint32 // crypto.FileChunks(Size)
	SHA256  [crypto.HashSize]byte
	Expires int64 // unix seconds: the chunks' deadline on the relay
	Type    string
	Name    string
}

// check validates every field as the receiver must.
func (d *FileDescriptor) check() error {
	if d.Size < 0 || d.Size > crypto.MaxFileSize {
		return fileErr(ErrFileSize, "it is larger than veil accepts (2 GB)")
	}
	if n, err := crypto.FileChunks(d.Size); err != nil || n != d.Chunks {
		return fileErr(ErrFileSize, "its size does not match its chunks")
	}
	if d.Expires < 0 {
		return fileErr(errFileMalformed, "its description is malformed")
	}
	if err := CheckMediaType(d.Type); err != nil {
		return err
	}
	return CheckFileName(d.Name)
}

// Append appends the encoded descriptor to dst. It refuses a descriptor
// the receiver would refuse, with the same error.
func (d *FileDescriptor) Append(dst []byte) ([]byte, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	dst = append(dst, fileDescVersion, d.Slot)
	dst = append(dst, d.Secret[:]...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(d.Size))
	dst = binary.BigEndian.AppendUint32(dst, d.Chunks)
	dst = append(dst, d.SHA256[:]...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(d.Expires))
	dst = append(dst, byte(len(d.Type)))
	dst = append(dst, d.Type...)
	dst = append(dst, byte(len(d.Name)))
	dst = append(dst, d.Name...)
	return dst, nil
}

// ParseFileDescriptor decodes b strictly. Every error is a *FileError.
func ParseFileDescriptor(b []byte) (FileDescriptor, error) {
	var d FileDescriptor
	r := newRecordReader(b)
	v := r.u8()
	if !r.ok {
		return d, fileErr(errFileMalformed, "its description is malformed")
	}
	if v != fileDescVersion {
		return d, fileErr(ErrFileVersion, fmt.Sprintf("it was described in a newer format (version %d)", v))
	}
	d.Slot = r.u8()
	copy(d.Secret[:], r.take(crypto.KeySize))
	d.Size = int64(r.u64())
	d.Chunks = r.u32()
	copy(d.SHA256[:], r.take(crypto.HashSize))
	d.Expires = int64(r.u64())
	d.Type = string(r.take(int(r.u8())))
	d.Name = string(r.take(int(r.u8())))
	if !r.done() {
		d.Secret.Wipe()
		return FileDescriptor{}, fileErr(errFileMalformed, "its description is malformed")
	}
	if err := d.check(); err != nil {
		d.Secret.Wipe()
		return FileDescriptor{}, err
	}
	return d, nil
}

// appendFile appends a FILE envelope's descriptor: d encoded, or, when d
// is nil, the raw bytes of a refused descriptor as they were parsed.
func appendFile(b []byte, d *FileDescriptor, raw []byte) ([]byte, error) {
	if d == nil {
		if raw == nil {
			return nil, fmt.Errorf("%w: file without a descriptor", errEnvelope)
		}
		return append(b, raw...), nil
	}
	return d.Append(b)
}

// parseFile decodes the descriptor that ends a FILE envelope. A refused
// descriptor does not fail the envelope: it comes back as an error with
// its bytes (spec/files.md §4.3).
func parseFile(b []byte) (*FileDescriptor, []byte, error) {
	d, err := ParseFileDescriptor(b)
	if err != nil {
		return nil, bytes.Clone(b), err
	}
	return &d, nil, nil
}
