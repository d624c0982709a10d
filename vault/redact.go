package vault

import "fmt"

// RelayCap holds a recipient key and a send capability: every verb
// prints the relay, slot and state alone (house style rule 6).
func (r RelayCap) String() string {
	side := "send"
	if len(r.RecvID) > 0 {
		side = "recv"
	}
	return fmt.Sprintf("RelayCap{%s slot %d, %s, redacted}", side, r.Slot, r.Address)
}

// GoString is String.
func (r RelayCap) GoString() string { return r.String() }

// Format prints String whatever the verb.
func (r RelayCap) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(r.String())) }
