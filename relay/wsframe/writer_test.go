package wsframe_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"

	"veil/relay/wire"
	"veil/relay/wsframe"
)

// recorder keeps every Write it gets.
type recorder struct {
	writes [][]byte
	fail   bool
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.fail {
		return 0, errors.New("broken pipe")
	}
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

// wsFrame builds one RFC 6455 frame header for a payload of n bytes,
// masked or not, followed by the payload.
func wsFrame(n int, masked bool, fill byte) []byte {
	b := []byte{0x82}
	m := byte(0)
	if masked {
		m = 0x80
	}
	switch {
	case n < 126:
		b = append(b, m|byte(n))
	case n < 1<<16:
		b = append(b, m|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if masked {
		b = append(b, 1, 2, 3, 4)
	}
	return append(b, bytes.Repeat([]byte{fill}, n)...)
}

// TestWriterWholeFrames: frames of every header form, written in
// pieces of random sizes, reach the connection unchanged and one whole
// frame per write; a frame longer than a block passes through as it comes.
func TestWriterWholeFrames(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 125, 126, 4096, 65535, wire.BlockSize, 65536, 100000}
	for round := range 50 {
		var frames [][]byte
		var stream []byte
		for i := range 20 {
			f := wsFrame(sizes[rng.IntN(len(sizes))], rng.IntN(2) == 0, byte(round+i))
			frames = append(frames, f)
			stream = append(stream, f...)
		}
		var rec recorder
		fw := wsframe.NewWriter(&rec)
		for rest := stream; len(rest) > 0; {
			k := min(len(rest), 1+rng.IntN(5000))
			if n, err := fw.Write(rest[:k]); n != k || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			rest = rest[k:]
		}
		if got := bytes.Join(rec.writes, nil); !bytes.Equal(got, stream) {
			t.Fatalf("round %d: bytes changed", round)
		}
		// Every frame up to a block is exactly one write.
		w := 0
		for _, f := range frames {
			if len(f) > wire.BlockSize+14 {
				for n := 0; n < len(f); w++ {
					n += len(rec.writes[w])
				}
				continue
			}
			if !bytes.Equal(rec.writes[w], f) {
				t.Fatalf("round %d: write %d is not one whole frame (%d bytes, frame %d)", round, w, len(rec.writes[w]), len(f))
			}
			w++
		}
	}
}

// TestWriterError: a failing connection's error comes back.
func TestWriterError(t *testing.T) {
	rec := &recorder{fail: true}
	fw := wsframe.NewWriter(rec)
	if _, err := fw.Write(wsFrame(10, true, 1)); err == nil {
		t.Fatal("no error from a broken connection")
	}
}

// FuzzWriter: any byte stream, in any pieces, comes out unchanged
// and in order (a prefix of it while a frame is incomplete), and never
// panics the writer.
func FuzzWriter(f *testing.F) {
	f.Add(wsFrame(5, true, 1), uint8(3))
	f.Add(append(wsFrame(0, false, 0), wsFrame(200, true, 2)...), uint8(1))
	f.Add([]byte{0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3}, uint8(2))
	f.Fuzz(func(t *testing.T, stream []byte, piece uint8) {
		var rec recorder
		fw := wsframe.NewWriter(&rec)
		step := int(piece)%64 + 1
		for rest := stream; len(rest) > 0; {
			k := min(step, len(rest))
			if n, err := fw.Write(rest[:k]); n != k || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			rest = rest[k:]
		}
		if got := bytes.Join(rec.writes, nil); !bytes.HasPrefix(stream, got) {
			t.Fatal("bytes changed or reordered")
		}
	})
}

// TestWriterTCP: on a TCP connection (vectored writes) the stream
// arrives unchanged, whatever the pieces.
func TestWriterTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(c)
		got <- b
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var stream []byte
	for i := range 200 {
		stream = append(stream, wsFrame([]int{0, 3, 200, 4000, wire.BlockSize, 70000}[rng.IntN(6)], rng.IntN(2) == 0, byte(i))...)
	}
	fw := wsframe.NewWriter(c)
	for rest := stream; len(rest) > 0; {
		k := min(len(rest), []int{1, 7, 512, 4096, 15876, 20000}[rng.IntN(6)])
		if _, err := fw.Write(rest[:k]); err != nil {
			t.Fatal(err)
		}
		rest = rest[k:]
	}
	c.Close()
	if b := <-got; !bytes.Equal(b, stream) {
		t.Fatalf("received %d bytes, sent %d, or they differ", len(b), len(stream))
	}
}
