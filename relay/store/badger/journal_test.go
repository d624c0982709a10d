package badger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bdg "github.com/dgraph-io/badger/v4"

	"veil/relay/store"
)

// smallSegments makes journal segments small for one test.
func smallSegments(t *testing.T, min, full int64) {
	oldMin, oldFull := minSegment, segmentSize
	minSegment, segmentSize = min, full
	t.Cleanup(func() { minSegment, segmentSize = oldMin, oldFull })
}

func openDir(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// bodies returns the bodies Pending returns for rid, failing on an error
// or a repeated seq.
func bodies(t *testing.T, s *Store, rid store.ID) []string {
	t.Helper()
	msgs, err := s.Pending(context.Background(), rid, 0, 1<<20)
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	var out []string
	for i, m := range msgs {
		if i > 0 && m.Seq <= msgs[i-1].Seq {
			t.Fatalf("Pending: seq %d after %d", m.Seq, msgs[i-1].Seq)
		}
		out = append(out, string(m.Body))
	}
	return out
}

// segNum returns the number of the segment file at path.
func segNum(t *testing.T, path string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(path), ".seg"), 16, 32)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, journalDir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// TestJournalTornTail cuts the last record of the journal as a crash in
// the middle of a write would, and checks that replay keeps everything
// before it, drops it, and that the store goes on working across further
// reopens.
func TestJournalTornTail(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openDir(t, dir)
	m := mustMailbox(t, s, 1, 2)
	var want []string
	for i := range 20 {
		b := fmt.Sprintf("m%02d", i)
		if _, err := s.Send(ctx, m.SenderID, []byte(b), time.Hour, 100); err != nil {
			t.Fatal(err)
		}
		want = append(want, b)
	}
	for seq := uint64(1); seq <= 5; seq++ {
		if err := s.Ack(ctx, m.RecipientID, seq); err != nil {
			t.Fatal(err)
		}
	}
	want = want[5:]
	if _, err := s.Send(ctx, m.SenderID, []byte("torn"), time.Hour, 100); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Find the body of the last record, and break its last byte.
	var path string
	var last int64
	for _, p := range segFiles(t, dir) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.LastIndex(b, []byte("torn")); i >= 0 {
			path, last = p, int64(i+len("torn")-1)
		}
	}
	if path == "" {
		t.Fatal("the last record is in no segment")
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{'X'}, last); err != nil {
		t.Fatal(err)
	}
	f.Close()

	s = openDir(t, dir)
	if got := bodies(t, s, m.RecipientID); !slices.Equal(got, want) {
		t.Fatalf("after a torn tail Pending = %q, want %q", got, want)
	}
	seq, err := s.Send(ctx, m.SenderID, []byte("after"), time.Hour, 100)
	if err != nil || seq <= 21 {
		t.Fatalf("Send after a torn tail = %d, %v", seq, err)
	}
	want = append(want, "after")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDir(t, dir)
	defer s.Close()
	if got := bodies(t, s, m.RecipientID); !slices.Equal(got, want) {
		t.Fatalf("after a second reopen Pending = %q, want %q", got, want)
	}
}

// TestJournalReclaim runs many short-lived messages past a few long-lived
// ones through small segments: the journal must stay a few segments
// long (dead ones retired or recycled, the long-lived messages copied
// forward), and every message must be exactly where it was, also after a
// reopen, with nothing of a recycled segment's former life coming back.
func TestJournalReclaim(t *testing.T) {
	smallSegments(t, 8<<10, 32<<10)
	ctx := context.Background()
	dir := t.TempDir()
	s := openDir(t, dir)
	defer func() { s.Close() }()
	keep := mustMailbox(t, s, 1, 2)
	busy := mustMailbox(t, s, 3, 4)
	var want []string
	for i := range 3 {
		b := fmt.Sprintf("kept %d %s", i, strings.Repeat("k", 300))
		if _, err := s.Send(ctx, keep.SenderID, []byte(b), time.Hour, 100); err != nil {
			t.Fatal(err)
		}
		want = append(want, b)
	}
	body := bytes.Repeat([]byte("b"), 400)
	maxFiles := 0
	for i := range 3000 {
		seq, err := s.Send(ctx, busy.SenderID, body, time.Hour, 100)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Ack(ctx, busy.RecipientID, seq); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			maxFiles = max(maxFiles, len(segFiles(t, dir)))
		}
	}
	// head, the one being prepared, two spares, and at most two sealed
	// ones with live messages before the copies catch up.
	if maxFiles > 7 {
		t.Errorf("the journal grew to %d segment files", maxFiles)
	}
	first := segNum(t, segFiles(t, dir)[0])
	if first < 10 {
		t.Errorf("oldest segment is number %d: the first ones were never retired", first)
	}
	if got := bodies(t, s, keep.RecipientID); !slices.Equal(got, want) {
		t.Fatalf("long-lived messages: %d, want %d", len(got), len(want))
	}
	if got := bodies(t, s, busy.RecipientID); len(got) != 0 {
		t.Fatalf("%d acknowledged messages still pending", len(got))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDir(t, dir)
	if got := bodies(t, s, keep.RecipientID); !slices.Equal(got, want) {
		t.Fatalf("long-lived messages after reopen: %d, want %d", len(got), len(want))
	}
	if got := bodies(t, s, busy.RecipientID); len(got) != 0 {
		t.Fatalf("after reopen %d acknowledged messages came back", len(got))
	}
}

// TestJournalOrphans removes a mailbox's records from Badger behind the
// store's back, as a crash between the mailbox's deletion and its DROP
// record would leave it: the messages must not come back, not even to a
// mailbox created later with the same IDs.
func TestJournalOrphans(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openDir(t, dir)
	m := mustMailbox(t, s, 1, 2)
	for i := range 3 {
		if _, err := s.Send(ctx, m.SenderID, []byte{byte(i)}, time.Hour, 10); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.db.Update(func(txn *bdg.Txn) error {
		for _, k := range [][]byte{idKey(prefixMailbox, m.RecipientID), idKey(prefixSender, m.SenderID), idKey(prefixBoxSeq, m.RecipientID)} {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDir(t, dir)
	defer s.Close()
	if _, err := s.Pending(ctx, m.RecipientID, 0, 10); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Pending of a deleted mailbox: %v", err)
	}
	mustMailbox(t, s, 1, 2)
	if got := bodies(t, s, m.RecipientID); len(got) != 0 {
		t.Fatalf("a new mailbox with old IDs holds %d old messages", len(got))
	}
	if seq, err := s.Send(ctx, m.SenderID, []byte("new"), time.Hour, 10); err != nil || seq != 1 {
		t.Fatalf("Send to the new mailbox = %d, %v", seq, err)
	}
}

// TestJournalRecreate deletes a mailbox holding messages and creates one
// with the same IDs: across a reopen, only the new mailbox's message is
// there (the DROP record).
func TestJournalRecreate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openDir(t, dir)
	m := mustMailbox(t, s, 1, 2)
	for i := range 3 {
		if _, err := s.Send(ctx, m.SenderID, []byte(fmt.Sprint("old", i)), time.Hour, 10); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteMailbox(ctx, m.RecipientID); err != nil {
		t.Fatal(err)
	}
	mustMailbox(t, s, 1, 2)
	if _, err := s.Send(ctx, m.SenderID, []byte("new"), time.Hour, 10); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDir(t, dir)
	defer s.Close()
	if got := bodies(t, s, m.RecipientID); !slices.Equal(got, []string{"new"}) {
		t.Fatalf("after reopen Pending = %q, want [new]", got)
	}
}

// TestJournalMigrate writes messages the way the previous version of the
// store kept them (in Badger) and checks that Open moves them into the
// journal: live ones kept in order, expired and orphaned ones dropped, no
// message key left in Badger.
func TestJournalMigrate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openDir(t, dir)
	m := mustMailbox(t, s, 1, 2)
	hour := expiresAt(time.Now().Add(time.Hour))
	legacy := []struct {
		rid  store.ID
		seq  uint64
		exp  uint64
		body string
	}{
		{m.RecipientID, 7, hour, "seven"},
		{m.RecipientID, 3, hour, "three"},
		{m.RecipientID, 5, expiresAt(time.Now().Add(-time.Hour)), "expired"},
		{store.ID{99}, 1, hour, "orphan"},
	}
	if err := s.db.Update(func(txn *bdg.Txn) error {
		for _, l := range legacy {
			e := bdg.NewEntry(seqKey(prefixMessage, l.rid, l.seq), []byte(l.body))
			e.ExpiresAt = l.exp
			if err := txn.SetEntry(e); err != nil {
				return err
			}
		}
		return txn.Set(idKey(prefixBoxSeq, m.RecipientID), encodeUint64(seqReserve))
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second open finds nothing left to move
		s = openDir(t, dir)
		if got := bodies(t, s, m.RecipientID); !slices.Equal(got, []string{"three", "seven"}) {
			t.Fatalf("after migration Pending = %q", got)
		}
		n := 0
		if err := s.db.View(func(txn *bdg.Txn) error {
			it := txn.NewIterator(bdg.IteratorOptions{Prefix: []byte{prefixMessage}})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				n++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("%d message keys left in Badger", n)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	s = openDir(t, dir)
	defer s.Close()
	if err := s.Ack(ctx, m.RecipientID, 3); err != nil {
		t.Fatal(err)
	}
	if seq, err := s.Send(ctx, m.SenderID, []byte("next"), time.Hour, 10); err != nil || seq != seqReserve+1 {
		t.Fatalf("Send after migration = %d, %v", seq, err)
	}
}

// crashCopy copies dir as a crash would leave it: the store is not closed.
func crashCopy(t *testing.T, dir string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		return copySparse(p, filepath.Join(dst, rel))
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// copySparse copies the file at from to a new file at to, skipping the
// holes of Badger's large sparse files where the system can find them
// (SEEK_DATA and SEEK_HOLE); elsewhere it copies everything.
func copySparse(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	const seekData, seekHole = 3, 4
	for off := int64(0); off < info.Size(); {
		start, err := in.Seek(off, seekData)
		if errors.Is(err, syscall.ENXIO) {
			break // only a hole is left
		}
		if err != nil {
			start = off // no SEEK_DATA here: copy it all
		}
		end, err := in.Seek(start, seekHole)
		if err != nil || end <= start {
			end = info.Size()
		}
		if _, err := in.Seek(start, io.SeekStart); err != nil {
			return err
		}
		if _, err := io.CopyN(io.NewOffsetWriter(out, start), in, end-start); err != nil && err != io.EOF {
			return err
		}
		off = end
	}
	return out.Truncate(info.Size())
}

// TestJournalCrashAfterRetire retires segments while a later one, holding
// the ACKs of their messages, is reused, then opens a copy of the
// directory taken without closing the store: no acknowledged message may
// come back from a retired segment.
func TestJournalCrashAfterRetire(t *testing.T) {
	smallSegments(t, 8<<10, 8<<10)
	ctx := context.Background()
	dir := t.TempDir()
	s := openDir(t, dir)
	defer s.Close()
	m := mustMailbox(t, s, 1, 2)
	big := bytes.Repeat([]byte("y"), 4100) // two fill a segment
	send := func() uint64 {
		t.Helper()
		seq, err := s.Send(ctx, m.SenderID, big, time.Hour, 100)
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	ack := func(seqs ...uint64) {
		t.Helper()
		for _, seq := range seqs {
			if err := s.Ack(ctx, m.RecipientID, seq); err != nil {
				t.Fatal(err)
			}
		}
	}
	long := send()
	for range 6 {
		a, b := send(), send()
		ack(a, b)
	}
	ack(long)
	for range 4 {
		a, b := send(), send()
		ack(a, b)
	}
	if got := bodies(t, s, m.RecipientID); len(got) != 0 {
		t.Fatalf("%d messages pending before the crash", len(got))
	}
	c := openDir(t, crashCopy(t, dir))
	defer c.Close()
	if got := bodies(t, c, m.RecipientID); len(got) != 0 {
		t.Fatalf("after the crash %d acknowledged messages came back", len(got))
	}
}

// TestJournalMigrateMany moves more legacy messages than one segment and
// one chunk hold.
func TestJournalMigrateMany(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	m := mustMailbox(t, s, 1, 2)
	hour := expiresAt(time.Now().Add(time.Hour))
	const n = 700
	body := bytes.Repeat([]byte("m"), 4000)
	wb := s.db.NewWriteBatch()
	for i := 1; i <= n; i++ {
		e := bdg.NewEntry(seqKey(prefixMessage, m.RecipientID, uint64(i)), body)
		e.ExpiresAt = hour
		if err := wb.SetEntry(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		s = openDir(t, dir)
		if got := bodies(t, s, m.RecipientID); len(got) != n {
			t.Fatalf("after migration %d messages, want %d", len(got), n)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestJournalSegmentsFollowQuota checks that a small storage quota keeps
// segments small: a sixteenth of the quota, so the few written in
// advance or kept for reuse do not fill it.
func TestJournalSegmentsFollowQuota(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, MaxBytes: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := mustMailbox(t, s, 1, 2)
	body := bytes.Repeat([]byte("q"), 4000)
	for range 2000 { // 8 MB: past 1 + 2 + 2 MiB of segments
		seq, err := s.Send(ctx, m.SenderID, body, time.Hour, 10)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Ack(ctx, m.RecipientID, seq); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range segFiles(t, dir) {
		info, err := os.Stat(p)
		if err != nil {
			continue // retired meanwhile
		}
		if info.Size() > 2<<20+1<<20 { // a sixteenth, and at most one group past it
			t.Errorf("%s: %d bytes with a 32 MiB quota", filepath.Base(p), info.Size())
		}
	}
	if n := segNum(t, segFiles(t, dir)[len(segFiles(t, dir))-1]); n < 4 {
		t.Errorf("only %d segments for 8 MB of messages", n)
	}
}
