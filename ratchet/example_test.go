package ratchet_test

import (
	"fmt"

	"veil/ratchet"
)

// A session from invite to reply. Production code passes a zero Config
// (crypto/rand and the system clock) and stores every Marshal result in
// the vault before acting on a message.
func Example() {
	// The inviter makes a bundle; its public half travels in the invite.
	secret, err := ratchet.NewBundle(ratchet.Config{})
	if err != nil {
		panic(err)
	}
	invite := secret.Bundle().Marshal()

	// The joiner verifies the bundle and sends the first message.
	bundle, err := ratchet.ParseBundle(invite)
	if err != nil {
		panic(err)
	}
	joiner, err := ratchet.Initiate(ratchet.Config{}, bundle)
	if err != nil {
		panic(err)
	}
	first, _ := joiner.Encrypt([]byte("hello"))

	// The inviter answers the initial message, then forgets its one-time keys.
	inviter, pt, err := ratchet.Respond(ratchet.Config{}, secret, first)
	if err != nil {
		panic(err)
	}
	secret.Wipe()
	fmt.Printf("%s (%d bytes on the wire, initial: %v)\n", pt, len(first), ratchet.IsInitial(first))

	reply, _ := inviter.Encrypt([]byte("welcome"))
	pt, _ = joiner.Decrypt(reply)
	fmt.Printf("%s (%d bytes)\n", pt, len(reply))

	// Replays are recognised; both sides show the same safety code.
	_, err = joiner.Decrypt(reply)
	fmt.Println(err)
	fmt.Println(joiner.SafetyCode() == inviter.SafetyCode())
	// Output:
	// hello (4096 bytes on the wire, initial: true)
	// welcome (1024 bytes)
	// ratchet: duplicate message
	// true
}
