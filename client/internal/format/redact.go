package format

import "fmt"

// The types below hold capabilities or keys; their String and GoString
// methods keep them out of logs and %v (house style rule 6).

func (e Envelope) String() string   { return "envelope(redacted)" }
func (e Envelope) GoString() string { return e.String() }

func (i InviteIDs) String() string   { return "inviteIDs(redacted)" }
func (i InviteIDs) GoString() string { return i.String() }

func (k GroupInviteKeys) String() string   { return "GroupInviteKeys(redacted)" }
func (k GroupInviteKeys) GoString() string { return k.String() }

// SlotCap holds a send capability: every verb prints the slot and relay
// alone.
func (s SlotCap) String() string {
	return fmt.Sprintf("SlotCap{slot %d, %s, redacted}", s.Slot, s.Relay)
}
func (s SlotCap) GoString() string           { return s.String() }
func (s SlotCap) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }
