package client

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"veil/vault"
)

// BenchmarkClientSearch100k measures Engine.Search, what `veil search`,
// the API's search and the TUI's search across chats call: the vault's
// index query plus opening, filtering and snippeting the shown results
// (at most 100), over 100,000 stored messages in 100 chats, bodies of 8–20
// words. The bar is 20 ms a search (spec/client.md §9.1).
func BenchmarkClientSearch100k(b *testing.B) {
	ctx := context.Background()
	e := testEngine(b, nil)
	words := strings.Fields(`the a to and of meet station north gate documents source
		protest tomorrow tonight safe house car train border press editor story lawyer
		phone laptop key signal relay contact risk police permit march square river
		bridge office camera photo upload leak minister budget report evidence witness`)
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		for c := range 100 {
			id := fmt.Sprintf("chat%03d", c)
			if err := tx.PutChat(&vault.Chat{ID: id, Kind: vault.ChatDirect, Name: id, ContactID: id}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	const n = 100_000
	for lo := 0; lo < n; lo += 1000 {
		err := e.v.Update(ctx, func(tx *vault.Tx) error {
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
				at := t0.Add(time.Duration(i) * time.Second)
				m := vault.Message{ID: fmt.Sprintf("%016x%016x", at.UnixNano(), i), ChatID: fmt.Sprintf("chat%03d", i%100),
					Direction: vault.Incoming, Body: []byte(sb.String()), Sent: at, Received: at}
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
	start := time.Now()
	hits, err := e.Search(ctx, "zanzibar", "", 0)
	build := time.Since(start)
	if err != nil || len(hits) != 100 {
		b.Fatalf("%d hits, %v; want 100 (of 101)", len(hits), err)
	}
	queries := []string{"zanzibar", "safe house", "evidence", "north gate", "nothing-matches"}
	for _, bc := range []struct{ name, chat string }{{"all-chats", ""}, {"one-chat", "chat042"}} {
		b.Run(bc.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := e.Search(ctx, queries[i%len(queries)], bc.chat, 0); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(build.Microseconds())/1000, "first-search-ms")
		})
	}
}
