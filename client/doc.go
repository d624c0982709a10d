// Package client is veil's engine, shared by the terminal UI and the
// command line: it opens a profile's vault, creates and accepts one-time
// invites, runs the sessions of its chats, keeps an outbox that survives
// crashes and offline periods, receives from any number of relays, runs the
// self-destruct timers, and reports what happens as Events on a channel.
// spec/client.md is normative; the code cites it by section.
//
// The package never links the relay server: cmd/veil starts the embedded
// first-run relay and hands its address in like any other.
//
// An Engine is safe for concurrent use. Run owns every background
// goroutine (one receive loop per relay, the outbox loop and the timer
// loop) and returns once they have all stopped, after its context ends.
// The one-shot methods (Invite, Join, Send, Flush …) work without Run, so a
// command-line process can do one thing and exit.
package client
