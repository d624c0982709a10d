package vault_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"veil/crypto"
	"veil/vault"
)

// A client creates the vault once, then stores ratchet state, the message
// it decrypted and the outbox change in one transaction.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "veil-example")
	defer os.RemoveAll(dir)
	opts := &vault.Options{KDF: crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}} // tests only: production leaves KDF zero

	v, err := vault.Create(ctx, dir, []byte("correct horse battery staple"), opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = v.SetDuressPIN(ctx, []byte("2580"), vault.DuressDecoy)
	_ = v.SetPolicy(vault.Policy{WipeAfter: 10})

	err = v.Update(ctx, func(tx *vault.Tx) error {
		if err := tx.PutChat(&vault.Chat{ID: "chat-1", Kind: vault.ChatDirect, ContactID: "c-1"}); err != nil {
			return err
		}
		if err := tx.PutContact(&vault.Contact{ID: "c-1", Ratchet: []byte("serialised ratchet state")}); err != nil {
			return err
		}
		return tx.PutMessage(&vault.Message{ID: "0001", ChatID: "chat-1", Direction: vault.Incoming,
			Body: []byte("meet at noon"), Received: time.Now()})
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	hits, _ := v.Search(ctx, "NOON", "", 10)
	fmt.Println(hits)
	v.Lock()

	_, err = vault.Open(ctx, dir, []byte("1234"), opts)
	fmt.Println(err)
	// Output:
	// [{chat-1 0001}]
	// vault: wrong PIN
}
