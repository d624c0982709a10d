package record

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"veil/relay/store"
)

var legacies = []Legacy{0, BadgerV1, JetStreamV1}

func sampleMailbox() store.Mailbox {
	return store.Mailbox{
		RecipientID: store.ID{1}, SenderID: store.ID{2}, RecipientKey: [32]byte{3},
		SenderKey: []byte("credential"),
		Created:   time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), LastActive: time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC),
	}
}

func sampleLog() Log {
	return Log{Log: store.Log{ID: store.ID{4}, WriteCap: [32]byte{5}, ReadCap: [32]byte{6}, TTL: time.Hour,
		Created: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}, Floor: 7}
}

// The version-1 records below are what the two stores wrote before
// version 2, built field by field as their encoders did.
func badgerV1Mailbox(m store.Mailbox) []byte {
	b := append([]byte{1}, m.RecipientID[:]...)
	b = append(b, m.SenderID[:]...)
	b = append(b, m.RecipientKey[:]...)
	b = append(b, be32(DayNumber(m.Created))...)
	b = append(b, be32(DayNumber(m.LastActive))...)
	b = append(b, byte(len(m.SenderKey)>>8), byte(len(m.SenderKey)))
	return append(b, m.SenderKey...)
}

func jetStreamV1Mailbox(m store.Mailbox) []byte {
	b := append([]byte{1}, m.RecipientID[:]...)
	b = append(b, m.SenderID[:]...)
	b = append(b, m.RecipientKey[:]...)
	b = append(b, be64(uint64(m.Created.Unix()))...)
	b = append(b, be64(uint64(m.LastActive.Unix()))...)
	b = append(b, byte(len(m.SenderKey)>>8), byte(len(m.SenderKey)))
	return append(b, m.SenderKey...)
}

func be32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }
func be64(v uint64) []byte { return append(be32(uint32(v>>32)), be32(uint32(v))...) }

func TestMailbox(t *testing.T) {
	m := sampleMailbox()
	v2, err := EncodeMailbox(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		b      []byte
		legacy Legacy
	}{
		{"v2", v2, 0},
		{"v2 in a badger store", v2, BadgerV1},
		{"badger v1", badgerV1Mailbox(m), BadgerV1},
		{"jetstream v1", jetStreamV1Mailbox(m), JetStreamV1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeMailbox(tc.b, tc.legacy)
			if err != nil || !reflect.DeepEqual(got, m) {
				t.Fatalf("DecodeMailbox = %+v, %v; want %+v", got, err, m)
			}
		})
	}
	// A version-1 record is read only as the store that wrote it.
	if _, err := DecodeMailbox(badgerV1Mailbox(m), 0); err == nil {
		t.Error("a version-1 record decoded without a legacy format")
	}
	if _, err := DecodeMailbox(badgerV1Mailbox(m), JetStreamV1); err == nil {
		t.Error("a badger version-1 record decoded as JetStream's")
	}
	for n := range len(v2) {
		if _, err := DecodeMailbox(v2[:n], BadgerV1); err == nil {
			t.Errorf("truncated to %d bytes: no error", n)
		}
	}
	if _, err := EncodeMailbox(store.Mailbox{SenderKey: make([]byte, MaxSenderKey+1)}); err == nil {
		t.Error("an over-long sender credential was encoded")
	}
}

func TestLog(t *testing.T) {
	l := sampleLog()
	v2 := EncodeLog(l)
	badger := append([]byte{1}, v2[1:len(v2)-8]...)
	js := append([]byte{1}, v2[1:1+store.IDSize+64+8]...)
	js = append(js, be64(uint64(l.Created.Unix()))...)
	js = append(js, be64(l.Floor)...)
	noFloor := l
	noFloor.Floor = 0
	for _, tc := range []struct {
		name   string
		b      []byte
		legacy Legacy
		want   Log
	}{
		{"v2", v2, 0, l},
		{"badger v1", badger, BadgerV1, noFloor},
		{"jetstream v1", js, JetStreamV1, l},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeLog(tc.b, tc.legacy)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("DecodeLog = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	for n := range len(v2) {
		if _, err := DecodeLog(v2[:n], JetStreamV1); err == nil {
			t.Errorf("truncated to %d bytes: no error", n)
		}
	}
}

// FuzzMailbox: any record a decoder accepts encodes to version 2 and
// decodes back to the same mailbox; a version-2 record encodes back to
// its exact bytes; a rejected one gives the zero value.
func FuzzMailbox(f *testing.F) {
	m := sampleMailbox()
	v2, _ := EncodeMailbox(m)
	f.Add(v2)
	f.Add(badgerV1Mailbox(m))
	f.Add(jetStreamV1Mailbox(m))
	f.Add([]byte{V2})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, legacy := range legacies {
			m, err := DecodeMailbox(b, legacy)
			if err != nil {
				if !reflect.DeepEqual(m, store.Mailbox{}) {
					t.Fatalf("error %v with a non-zero result", err)
				}
				continue
			}
			again, err := EncodeMailbox(m)
			if err != nil {
				if b[0] == V2 {
					t.Fatalf("a decoded version-2 record does not encode: %v", err)
				}
				continue // a badger version-1 credential past the version-2 bound
			}
			if b[0] == V2 && !bytes.Equal(again, b) {
				t.Fatalf("round trip changed the record:\n%x\n%x", b, again)
			}
			if back, err := DecodeMailbox(again, 0); err != nil || !sameDays(back, m) {
				t.Fatalf("re-encoded record decodes to %+v, %v; want %+v", back, err, m)
			}
		}
	})
}

// sameDays compares mailboxes whose days version 2 keeps exactly (a
// JetStream version-1 day before 1970 becomes day 0).
func sameDays(a, b store.Mailbox) bool {
	if b.Created.Unix() >= 0 && b.LastActive.Unix() >= 0 && b.Created.Unix()/86400 <= 1<<32-1 && b.LastActive.Unix()/86400 <= 1<<32-1 {
		return reflect.DeepEqual(a, b)
	}
	a.Created, a.LastActive, b.Created, b.LastActive = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// FuzzLog is FuzzMailbox for log records.
func FuzzLog(f *testing.F) {
	v2 := EncodeLog(sampleLog())
	f.Add(v2)
	f.Add(append([]byte{1}, v2[1:len(v2)-8]...))
	f.Add(make([]byte, logFixed))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, legacy := range legacies {
			l, err := DecodeLog(b, legacy)
			if err != nil {
				if !reflect.DeepEqual(l, Log{}) {
					t.Fatalf("error %v with a non-zero result", err)
				}
				continue
			}
			again := EncodeLog(l)
			if b[0] == V2 && !bytes.Equal(again, b) {
				t.Fatalf("round trip changed the record:\n%x\n%x", b, again)
			}
			back, err := DecodeLog(again, 0)
			if err != nil || back.ID != l.ID || back.TTL != l.TTL || back.Floor != l.Floor || back.WriteCap != l.WriteCap || back.ReadCap != l.ReadCap {
				t.Fatalf("re-encoded record decodes to %+v, %v; want %+v", back, err, l)
			}
		}
	})
}
