package vault

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// BenchmarkVaultUnlock measures Open + Lock with the production Argon2id
// cost (DefaultKDF): the one place the slow default runs in tests.
func BenchmarkVaultUnlock(b *testing.B) {
	dir := b.TempDir()
	o := &Options{GCInterval: -1}
	v, err := Create(ctx, dir, pin, o)
	if err != nil {
		b.Fatal(err)
	}
	v.Lock()
	b.ReportMetric(float64(DefaultKDF().MemKiB)/1024, "argon2-MiB")
	b.ResetTimer()
	for b.Loop() {
		v, err := Open(ctx, dir, pin, o)
		if err != nil {
			b.Fatal(err)
		}
		v.Lock()
	}
}

// BenchmarkVaultPutMessage measures one durable (fsync) transaction that
// stores one 200-byte message.
func BenchmarkVaultPutMessage(b *testing.B) {
	v, err := Create(ctx, b.TempDir(), pin, &Options{KDF: testKDF, GCInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Lock()
	if err := v.Update(ctx, func(tx *Tx) error { return tx.PutChat(&Chat{ID: "c"}) }); err != nil {
		b.Fatal(err)
	}
	body := []byte(strings.Repeat("x", 200))
	i := 0
	for b.Loop() {
		i++
		err := v.Update(ctx, func(tx *Tx) error {
			return tx.PutMessage(&Message{ID: fmt.Sprintf("%012d", i), ChatID: "c", Direction: Outgoing, Body: body, Sent: time.Unix(int64(i), 0)})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

var words = strings.Fields(`the a to and of meet station north gate documents source
	protest tomorrow tonight safe house car train border press editor story lawyer
	phone laptop key signal relay contact risk police permit march square river
	bridge office camera photo upload leak minister budget report evidence witness`)

// fillSearch stores n messages over chats chats, bodies of 8–20 words from
// a fixed seed, in transactions of 1000.
func fillSearch(b *testing.B, v *Vault, n, chats int) {
	rng := rand.New(rand.NewPCG(1, 2))
	for c := range chats {
		if err := v.Update(ctx, func(tx *Tx) error { return tx.PutChat(&Chat{ID: fmt.Sprintf("chat%03d", c)}) }); err != nil {
			b.Fatal(err)
		}
	}
	for lo := 0; lo < n; lo += 1000 {
		err := v.Update(ctx, func(tx *Tx) error {
			for i := lo; i < min(lo+1000, n); i++ {
				var sb strings.Builder
				for w := range 8 + rng.IntN(13) {
					if w > 0 {
						sb.WriteByte(' ')
					}
					sb.WriteString(words[rng.IntN(len(words))])
				}
				if i%997 == 0 {
					sb.WriteString(" Zanzibar")
				}
				m := Message{ID: fmt.Sprintf("%08d", i), ChatID: fmt.Sprintf("chat%03d", i%chats), Direction: Incoming, Body: []byte(sb.String())}
				if err := tx.PutMessage(&m); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVaultSearch100k measures one search query over 100,000 stored
// messages (100 chats), across all chats and within one chat. The index
// build at first search is reported as index-build-ms and its heap as
// index-MiB.
func BenchmarkVaultSearch100k(b *testing.B) {
	dir := b.TempDir()
	v, err := Create(ctx, dir, pin, &Options{KDF: testKDF, GCInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	fillSearch(b, v, 100_000, 100)
	v.Lock()
	v, err = Open(ctx, dir, pin, &Options{KDF: testKDF, GCInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Lock()
	start := time.Now()
	hits, err := v.Search(ctx, "zanzibar", "", 0)
	build := time.Since(start)
	if err != nil || len(hits) != 101 {
		b.Fatalf("%d hits, %v; want 101", len(hits), err)
	}
	// The index's heap: live heap with it minus live heap without it.
	var with, without runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&with)
	v.idx.reset()
	runtime.GC()
	runtime.ReadMemStats(&without)
	indexMiB := float64(with.HeapAlloc-min(with.HeapAlloc, without.HeapAlloc)) / (1 << 20)
	if _, err := v.Search(ctx, "zanzibar", "", 0); err != nil {
		b.Fatal(err)
	}
	queries := []string{"zanzibar", "safe house", "evidence", "north gate", "nothing-matches"}
	for _, bc := range []struct{ name, chat string }{{"all-chats", ""}, {"one-chat", "chat042"}} {
		b.Run(bc.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := v.Search(ctx, queries[i%len(queries)], bc.chat, 50); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(build.Microseconds())/1000, "index-build-ms")
			b.ReportMetric(indexMiB, "index-MiB")
		})
	}
}

// BenchmarkVaultDuressErase measures a duress unlock from the moment the
// PIN is recognised (after Argon2id) to the moment the vault is erased:
// key slots overwritten and synced, data directory removed. Building
// the decoy vault is reported separately as decoy-ms. The 1GB case is
// skipped under -short; neither runs without -bench.
func BenchmarkVaultDuressErase(b *testing.B) {
	for _, size := range []struct {
		name  string
		bytes int64
		body  int
	}{{"1MB", 1 << 20, 1 << 10}, {"1GB", 1 << 30, 256 << 10}} {
		b.Run(size.name, func(b *testing.B) {
			if size.bytes > 1<<20 && testing.Short() {
				b.Skip("1 GB vault skipped under -short")
			}
			var decoy time.Duration
			var dataMiB float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := b.TempDir()
				dataMiB = buildVault(b, dir, size.bytes, size.body)
				var erasedAt time.Time
				o := &Options{KDF: testKDF, GCInterval: -1}
				o.onDuress = b.StartTimer
				o.afterErase = func() { b.StopTimer(); erasedAt = time.Now() }
				v, err := Open(ctx, dir, duressPIN, o)
				if err != nil {
					b.Fatal(err)
				}
				decoy += time.Since(erasedAt)
				v.Lock()
				if len(trashDirs(dir)) != 0 {
					b.Fatal("old data not removed")
				}
			}
			b.ReportMetric(float64(decoy.Microseconds())/1000/float64(b.N), "decoy-ms")
			b.ReportMetric(dataMiB, "data-MiB")
		})
	}
}

// buildVault creates a vault with a duress PIN holding about size bytes of
// messages and returns the size of its data directory in MiB.
func buildVault(b *testing.B, dir string, size int64, body int) float64 {
	v, err := Create(ctx, dir, pin, &Options{KDF: testKDF, GCInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	if err := v.SetDuressPIN(ctx, duressPIN, DuressDecoy); err != nil {
		b.Fatal(err)
	}
	if err := v.Update(ctx, func(tx *Tx) error { return tx.PutChat(&Chat{ID: "c"}) }); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, body)
	perTx := max(1, (1<<20)/body)
	n := int(size / int64(body))
	for lo := 0; lo < n; lo += perTx {
		err := v.Update(ctx, func(tx *Tx) error {
			for i := lo; i < min(lo+perTx, n); i++ {
				if err := tx.PutMessage(&Message{ID: fmt.Sprintf("%09d", i), ChatID: "c", Body: buf}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := v.Lock(); err != nil {
		b.Fatal(err)
	}
	var total int64
	filepath.Walk(filepath.Join(dir, dataDirName), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			total += fi.Size()
		}
		return nil
	})
	return float64(total) / (1 << 20)
}

// BenchmarkVaultRatchetUpdate measures the client's transaction for one
// received message: the contact with a 2 KiB ratchet state and the
// profile with its per-chat settings (both sealed, spec/vault.md §6.6,
// their state keys rotated every rotateEvery writes), the message and the
// chat, committed durably. With 100 contacts the
// chat-key table each rotation rewrites holds about 200 keys.
func BenchmarkVaultRatchetUpdate(b *testing.B) {
	for _, contacts := range []int{1, 100} {
		b.Run(fmt.Sprintf("contacts=%d", contacts), func(b *testing.B) {
			v, err := Create(ctx, b.TempDir(), pin, &Options{KDF: testKDF, GCInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer v.Lock()
			state := []byte(strings.Repeat("r", 2048))
			for c := range contacts {
				id := fmt.Sprintf("c%03d", c)
				err := v.Update(ctx, func(tx *Tx) error {
					if err := tx.PutChat(&Chat{ID: id, Kind: ChatDirect, ContactID: id}); err != nil {
						return err
					}
					return tx.PutContact(&Contact{ID: id, Ratchet: state})
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			body := []byte(strings.Repeat("x", 200))
			settings := map[string]string{}
			for c := range contacts { // the client keeps per-chat settings in the profile
				settings[fmt.Sprintf("chat/c%03d", c)] = `{"as":"nick","read_receipts":true}`
			}
			i := 0
			for b.Loop() {
				i++
				id := fmt.Sprintf("c%03d", i%contacts)
				err := v.Update(ctx, func(tx *Tx) error {
					if err := tx.PutContact(&Contact{ID: id, Ratchet: state}); err != nil {
						return err
					}
					if err := tx.PutProfile(&Profile{Settings: settings}); err != nil {
						return err
					}
					if err := tx.PutMessage(&Message{ID: fmt.Sprintf("%012d", i), ChatID: id, Direction: Incoming, Body: body}); err != nil {
						return err
					}
					return tx.PutChat(&Chat{ID: id, Kind: ChatDirect, ContactID: id, Unread: i})
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(rotateEvery, "rotate-every")
		})
	}
}

// BenchmarkUnlockLargeVault measures, on a vault holding about 100 MB of
// messages (small ones in Badger's tables, large ones in its value log),
// Open + Lock with the production Argon2id cost, and alone the read-only
// check of Badger's files that Open runs first (checkManifest). Open
// without the check costs the difference.
func BenchmarkUnlockLargeVault(b *testing.B) {
	if testing.Short() {
		b.Skip("fills 100 MB")
	}
	dir := b.TempDir()
	o := &Options{GCInterval: -1}
	v, err := Create(ctx, dir, pin, o)
	if err != nil {
		b.Fatal(err)
	}
	_, _, ch, _, _, _ := sampleRecords(time.Now())
	if err := v.Update(ctx, func(tx *Tx) error { return tx.PutChat(&ch) }); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	body := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte('a' + r.IntN(26))
		}
		return p
	}
	total := 0
	for batch := 0; total < 100<<20; batch++ {
		err := v.Update(ctx, func(tx *Tx) error {
			for i := range 500 {
				n := 2 << 10
				if i%50 == 0 {
					n = 256 << 10 // above the value threshold
				}
				m := Message{ID: fmt.Sprintf("m%d-%d", batch, i), ChatID: ch.ID, Direction: Incoming, Body: body(n), Sent: time.Now(), Status: StatusDelivered}
				if err := tx.PutMessage(&m); err != nil {
					return err
				}
				total += n
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	dataKey := v.dataKey
	v.Lock()
	bdir := filepath.Join(dir, dataDirName, badgerDirName)
	var tables, size int64
	filepath.WalkDir(bdir, func(p string, d os.DirEntry, err error) error {
		if fi, err := d.Info(); err == nil && !d.IsDir() {
			size += fi.Size()
			if strings.HasSuffix(p, ".sst") {
				tables++
			}
		}
		return nil
	})
	b.Logf("%d MB of message bodies; Badger directory %d MB, %d tables", total>>20, size>>20, tables)
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			v, err := Open(ctx, dir, pin, o)
			if err != nil {
				b.Fatal(err)
			}
			v.Lock()
		}
	})
	b.Run("check", func(b *testing.B) {
		ro := resolve(o)
		bo := badger.DefaultOptions(bdir).WithEncryptionKey(dataKey[:]).WithMemTableSize(ro.MemTableSize)
		for b.Loop() {
			if err := checkManifest(bdir, bo, false); err != nil {
				b.Fatal(err)
			}
		}
	})
}
