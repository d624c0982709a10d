package vault

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const crashDirEnv = "VEIL_VAULT_CRASH_DIR"

// crashBody is the body of message i of the crash test: above the value
// threshold, so it goes to Badger's value log, and large enough that a
// kill often lands inside the copy of one.
func crashBody(i int) []byte {
	b := bytes.Repeat([]byte{byte(i)}, 4<<20+i*4096)
	binary.BigEndian.PutUint64(b, uint64(i))
	return b
}

// TestCrashMidCommit kills a writer process (SIGKILL) at random moments
// while it commits large messages, then opens the vault: the open must
// succeed and every message whose commit returned must be there, whole.
// What a kill leaves is a torn tail (spec/vault.md §8.6), which Badger
// cuts: only the commit that had not returned is lost.
func TestCrashMidCommit(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	fillSample(t, v)
	mustLock(t, v)
	rounds := 6
	if testing.Short() {
		rounds = 3
	}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	acked := map[int]bool{}
	next, torn := 0, 0
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCrashWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, "VEIL_VAULT_CRASH_FIRST="+strconv.Itoa(next))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill at a uniformly random moment of the commit after a few
		// acknowledged ones, sized by the duration of the last commit.
		killAt := 1 + r.IntN(3)
		var began time.Time
		var last time.Duration
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if _, ok := strings.CutPrefix(sc.Text(), "begin "); ok {
				if killAt == 0 {
					time.Sleep(time.Duration(r.Int64N(int64(last) + 1)))
					break
				}
				began = time.Now()
				continue
			}
			s, ok := strings.CutPrefix(sc.Text(), "ack ")
			if !ok {
				continue
			}
			last = time.Since(began)
			i, err := strconv.Atoi(s)
			if err != nil {
				t.Fatal(err)
			}
			acked[i], next = true, i+1
			killAt--
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		go func() { _, _ = bufio.NewReader(out).WriteTo(devNull{}) }()
		_ = cmd.Wait()
		next++ // the commit the kill may have cut is never reused
		if tornTail(t, dir) {
			torn++
		}
		v, err := Open(ctx, dir, pin, testOpts(nil))
		if err != nil {
			t.Fatalf("round %d: open after a kill: %v", round, err)
		}
		err = v.View(ctx, func(tx *Tx) error {
			for i := range acked {
				m, err := tx.Message("chat1", fmt.Sprintf("crash%d", i))
				if err != nil {
					return fmt.Errorf("acknowledged message %d: %w", i, err)
				}
				if !bytes.Equal(m.Body, crashBody(i)) {
					return fmt.Errorf("acknowledged message %d: body differs", i)
				}
			}
			return nil
		})
		mustLock(t, v)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	t.Logf("%d rounds (%d left a torn value-log tail), %d acknowledged messages, all present", rounds, torn, len(acked))
}

// tornTail reports whether the newest value log of the vault in dir ends
// in a partly written entry.
func tornTail(t *testing.T, dir string) bool {
	t.Helper()
	d := filepath.Join(dir, dataDirName, badgerDirName)
	des, err := os.ReadDir(d)
	if err != nil {
		t.Fatal(err)
	}
	newest := ""
	for _, de := range des {
		if strings.HasSuffix(de.Name(), vlogSuffix) && cmpID(de.Name()) >= cmpID(newest) {
			newest = de.Name()
		}
	}
	b, err := os.ReadFile(filepath.Join(d, newest))
	if err != nil {
		t.Fatal(err)
	}
	off := logHeaderLen
	for off < len(b) {
		n, ok := entryAt(b[off:])
		if !ok {
			break
		}
		off += n
	}
	return dataEnd(b) > off
}

type devNull struct{}

func (devNull) Write(b []byte) (int, error) { return len(b), nil }

// TestHelperCrashWriter is the writer process of TestCrashMidCommit: it
// commits messages one per transaction and prints "ack i" after each
// commit returns, until it is killed.
func TestHelperCrashWriter(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process only")
	}
	first, _ := strconv.Atoi(os.Getenv("VEIL_VAULT_CRASH_FIRST"))
	v := mustOpen(t, dir, pin, testOpts(nil))
	fmt.Fprintf(os.Stdout, "begin %d\n", first)
	for i := first; ; i++ {
		m := Message{ID: fmt.Sprintf("crash%d", i), ChatID: "chat1", Direction: Outgoing, Body: crashBody(i), Sent: time.Now(), Status: StatusSent}
		if err := v.Update(ctx, func(tx *Tx) error { return tx.PutMessage(&m) }); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(os.Stdout, "ack %d\nbegin %d\n", i, i+1)
	}
}

// tornVault makes a vault whose newest value log was not closed (as a
// kill leaves it: at the size Badger preallocates, zeros past its data)
// and returns the profile directory and that log's path.
func tornVault(t *testing.T) (string, string) {
	t.Helper()
	dir := writeGolden(t, goldenVault(t))
	p := filepath.Join(dir, dataDirName, badgerDirName, "000001.vlog")
	if err := os.Truncate(p, 2*defaultVlogFileSize); err != nil {
		t.Fatal(err)
	}
	return dir, p
}

// appendEntryCopy writes, at the data end of the log at p, a copy of the
// entry at logHeaderLen with its bytes from cut on zeroed, and the bytes
// in zeroHead zeroed too (a torn copy: Go's memmove stores the head of a
// large copy last).
func appendEntryCopy(t *testing.T, p string, cut int, zeroHead int) (at int) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, logHeaderLen+4*valueThreshold)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	n, ok := entryAt(b[logHeaderLen:])
	if !ok {
		t.Fatal("no entry at the start of the log")
	}
	at = logHeaderLen + n
	e := bytes.Clone(b[logHeaderLen:at])
	clear(e[min(cut, len(e)):])
	clear(e[:zeroHead])
	if _, err := f.WriteAt(e, int64(at)); err != nil {
		t.Fatal(err)
	}
	return at
}

// TestTornTailOpens: the states a kill during a value-log write leaves
// (an entry cut short, an entry whose head was not yet stored) open, and
// every acknowledged record is there. The same bytes in a log Badger had
// closed, or followed by a whole entry, are damage.
func TestTornTailOpens(t *testing.T) {
	for _, c := range []struct {
		name          string
		cut, zeroHead int
	}{
		{"cut after the header", 30, 0},
		{"cut in the value", 70000, 0},
		{"cut before the checksum", 2*valueThreshold + 10, 0},
		{"head not yet stored", 1 << 30, 32},
		{"head not stored, cut in the value", 90000, 32},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, p := tornVault(t)
			appendEntryCopy(t, p, c.cut, c.zeroHead)
			err := openNoPanic(t, dir, new(int))
			wantIntact(t, err, nil, nil, dir)
		})
	}
}

// TestDamageBeforeValidEntryRefused: damage in a value-log entry that a
// whole entry follows is refused, even in a log Badger had not closed.
func TestDamageBeforeValidEntryRefused(t *testing.T) {
	for _, zeroHead := range []int{0, 32} {
		t.Run(fmt.Sprintf("zeroHead=%d", zeroHead), func(t *testing.T) {
			dir, p := tornVault(t)
			// A damaged entry (the first, its head or a byte of its value)
			// followed by a whole one.
			at := appendEntryCopy(t, p, 1<<30, 0)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if zeroHead > 0 {
				clear(b[logHeaderLen : logHeaderLen+zeroHead])
			} else {
				b[logHeaderLen+at/2] ^= 1
			}
			setFile(t, p, b)
			before := snapshotDir(t, dir)
			err = openNoPanic(t, dir, new(int))
			wantCorrupt(t, err, before, snapshotDir(t, dir), dir)
		})
	}
}

// TestTornTailInClosedLogRefused: a log Badger closed was truncated to
// its end, so a bad last entry there is damage, not an interrupted write.
func TestTornTailInClosedLogRefused(t *testing.T) {
	dir := writeGolden(t, goldenVault(t))
	p := filepath.Join(dir, dataDirName, badgerDirName, "000001.vlog")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	clear(b[len(b)-100:])
	setFile(t, p, b)
	before := snapshotDir(t, dir)
	err = openNoPanic(t, dir, new(int))
	wantCorrupt(t, err, before, snapshotDir(t, dir), dir)
}
