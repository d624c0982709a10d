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
	t.Parallel()
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
		if strings.HasSuffix(de.Name(), vlogSuffix) && logID(de.Name()) >= logID(newest) {
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

// killedWriter runs the writer process of TestCrashMidCommit on a new
// vault until it has acknowledged n messages, kills it and returns the
// profile directory and the path of its memtable WAL.
func killedWriter(t *testing.T, n int) (dir, wal string) {
	t.Helper()
	dir = t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	fillSample(t, v)
	mustLock(t, v)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCrashWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() && n > 0 {
		if strings.HasPrefix(sc.Text(), "ack ") {
			n--
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = bufio.NewReader(out).WriteTo(devNull{}) }()
	_ = cmd.Wait()
	mems, err := filepath.Glob(filepath.Join(dir, dataDirName, badgerDirName, "*"+memSuffix))
	if err != nil || len(mems) == 0 {
		t.Fatalf("no memtable WAL after a kill (%v)", err)
	}
	return dir, mems[len(mems)-1]
}
