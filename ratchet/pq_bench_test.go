//go:build unix

package ratchet

import (
	"encoding/binary"
	"testing"
	"time"

	"veil/crypto"
)

// benchPairVersion is benchPair for a bundle of the given version: 2, the
// KEM ratchet on; 1, a legacy session. Both sides then use production
// randomness and have exchanged one message each way.
func benchPairVersion(b *testing.B, version int) (alice, bob *Session) {
	b.Helper()
	a, bb := pqPairVersion(b, 100, version)
	return benchReady(b, a.s, bb.s)
}

// BenchmarkConversationPQ is a scripted balanced conversation of 1,000
// short texts (50 bytes, TEXT envelope included), so every message is a
// DH ratchet step: µs of process CPU time per message (encrypt plus
// decrypt, garbage collection included) with the KEM ratchet on and on a
// legacy pair, and the messages per completed epoch (spec/session.md
// §14.6: 7 expected, at most 50).
func BenchmarkConversationPQ(b *testing.B) {
	const msgs = 1000
	pt := make([]byte, textEnvelope+50)
	var spent [2]time.Duration
	var epochs uint64
	runs := 0
	for b.Loop() {
		for v, version := range []int{2, 1} {
			b.StopTimer()
			alice, bob := benchPairVersion(b, version)
			b.StartTimer()
			start := processCPU(b)
			from, to := bob, alice
			for range msgs {
				m, err := from.Encrypt(pt)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := to.Decrypt(m); err != nil {
					b.Fatal(err)
				}
				from, to = to, from
			}
			spent[v] += processCPU(b) - start
			if version == 2 {
				epochs += uint64(min(alice.PQ().Epochs, bob.PQ().Epochs))
			}
		}
		runs++
	}
	n := float64(runs * msgs)
	b.ReportMetric(float64(spent[0].Microseconds())/n, "pq-µs/msg")
	b.ReportMetric(float64(spent[1].Microseconds())/n, "legacy-µs/msg")
	if epochs > 0 {
		b.ReportMetric(n/float64(epochs), "msgs/epoch")
	}
	b.ReportMetric(0, "ns/op") // one op is two conversations: meaningless
}

// BenchmarkPQEpoch is the KEM work of one epoch, both sides
// (spec/session.md §14): key generation, the ek sent as chunks and
// rebuilt, ek parsed, encapsulation, the ct sent as chunks and rebuilt,
// decapsulation and both epoch secrets. "data" sends the data chunks (a
// conversation without loss), "parity" only parity chunks, the most a
// decoder ever computes.
func BenchmarkPQEpoch(b *testing.B) {
	for _, c := range []struct {
		name  string
		first byte // x of the first chunk sent
	}{{"data", 0}, {"parity", 37}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				pqEpochWork(b, c.first)
			}
		})
	}
}

// pqSend erasure-codes payload as n chunks from x = first on and returns
// what a receiver's decoder rebuilds.
func pqSend(b *testing.B, payload []byte, first byte) []byte {
	n := len(payload) / pqChunkData
	dec := newPQDecoder(n)
	for i := range n {
		c := pqChunk{x: first + byte(i)}
		pqEncode(payload, c.x, &c.d)
		if p, done := dec.add(c); done {
			return p
		}
	}
	b.Fatal("decoder did not complete")
	return nil
}

func pqEpochWork(b *testing.B, first byte) {
	dk, err := crypto.GenerateKEM768(nil)
	if err != nil {
		b.Fatal(err)
	}
	ekBytes := dk.Public().Bytes()
	ek, err := crypto.ParseKEM768Public(pqSend(b, ekBytes, first))
	if err != nil {
		b.Fatal(err)
	}
	ct, ss, err := crypto.Encapsulate768(ek, nil)
	if err != nil {
		b.Fatal(err)
	}
	info := string(binary.BigEndian.AppendUint32([]byte("veil/session/v1/pq-epoch"), 1))
	salt := crypto.Hash(ekBytes, ct)
	e1 := crypto.HKDFKey(ss[:], salt[:], info)
	ss2, err := crypto.Decapsulate768(&dk, pqSend(b, ct, first))
	if err != nil {
		b.Fatal(err)
	}
	e2 := crypto.HKDFKey(ss2[:], salt[:], info)
	if e1 != e2 {
		b.Fatal("epoch secrets differ")
	}
	dk.Wipe()
}
