package crypto

import (
	"errors"
	"fmt"
)

// Padding follows ISO/IEC 7816-4: a 0x80 byte, then zero bytes up to the
// bucket. It is unambiguous for any content and cheap to remove.

// ErrTooLong is returned when a plaintext does not fit the largest bucket.
var ErrTooLong = errors.New("crypto: message too long for the largest padding bucket")

var errBadPadding = errors.New("crypto: bad padding")

// PaddedLen returns the smallest bucket that holds n bytes plus the one
// padding marker byte. buckets must be sorted ascending.
func PaddedLen(n int, buckets []int) (int, error) {
	for _, b := range buckets {
		if n+1 <= b {
			return b, nil
		}
	}
	return 0, fmt.Errorf("%w (%d bytes, largest bucket %d)", ErrTooLong, n, buckets[len(buckets)-1])
}

// Pad appends msg padded to the smallest bucket that fits to dst.
func Pad(dst, msg []byte, buckets []int) ([]byte, error) {
	size, err := PaddedLen(len(msg), buckets)
	if err != nil {
		return nil, err
	}
	dst = append(dst, msg...)
	dst = append(dst, 0x80)
	for i := len(msg) + 1; i < size; i++ {
		dst = append(dst, 0)
	}
	return dst, nil
}

// Unpad returns the message inside padded (a sub-slice, not a copy). It
// rejects input with no 0x80 marker or with a non-zero byte after it.
// It does not check that len(padded) is a bucket: that is the caller's
// framing rule.
func Unpad(padded []byte) ([]byte, error) {
	for i := len(padded) - 1; i >= 0; i-- {
		switch padded[i] {
		case 0:
			continue
		case 0x80:
			return padded[:i], nil
		default:
			return nil, errBadPadding
		}
	}
	return nil, errBadPadding
}

// The buckets are the only sizes an end-to-end message (a ratchet message
// with its encrypted header, a group message, an invite blob) may have on a
// relay: spec/relay.md §6. The relay refuses any other size, so it learns
// a bucket, never a length.
const (
	bucketSmall  = 1024
	bucketMedium = 4096
)

// Buckets returns the bucket sizes, ascending, ending at MaxBody. The
// slice is new at every call: changing it changes nothing else.
func Buckets() []int { return []int{bucketSmall, bucketMedium, MaxBody} }

// IsBucket reports whether n is one of the bucket sizes.
func IsBucket(n int) bool { return n == bucketSmall || n == bucketMedium || n == MaxBody }

// BucketFor returns the smallest bucket of at least n bytes, or 0 when n
// is more than MaxBody.
func BucketFor(n int) int {
	switch {
	case n <= bucketSmall:
		return bucketSmall
	case n <= bucketMedium:
		return bucketMedium
	case n <= MaxBody:
		return MaxBody
	}
	return 0
}

// MaxBody is the largest bucket.
const MaxBody = 16000
