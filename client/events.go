package client

import (
	"context"
	"time"

	"veil/client/internal/format"
)

// EventType says what an Event reports.
type EventType string

// Event types. The JSON form of `veil watch --json` uses these strings.
const (
	EventMessage          EventType = "message"           // a message arrived (Text is sanitised)
	EventEdited           EventType = "edited"            // the peer edited a message
	EventDeleted          EventType = "deleted"           // the peer deleted a message for everyone
	EventStatus           EventType = "status"            // an outgoing message changed status
	EventContactJoined    EventType = "contact_joined"    // someone joined through our invite
	EventInviteLeaked     EventType = "invite_leaked"     // an invite key we made, or joined with, was used by someone else too
	EventInviteExpired    EventType = "invite_expired"    // an unused invite passed its deadline
	EventChatExpired      EventType = "chat_expired"      // a chat passed its deadline and was erased
	EventChatBurned       EventType = "chat_burned"       // the peer burned the chat; it is erased
	EventRelayConnected   EventType = "relay_connected"   // a relay connection is up
	EventRelayUnreachable EventType = "relay_unreachable" // a relay could not be reached or dropped
	EventVerifyLost       EventType = "verify_lost"       // a verified chat's safety code changed: the mark is cleared (Err says what to do)
	EventWarning          EventType = "warning"           // something the user should know (Err says what)
	EventSessionReset     EventType = "session_reset"     // a chat's session restarted after a restore from a backup (Text says so)
	EventRoutingDirect    EventType = "routing_direct"    // private routing could not forward to Relay: messages there go directly (Err says why); once per relay and run
	EventChatRelayDown    EventType = "chat_relay_down"   // one of a chat's two relays has failed for SlotDownAfter (Relay, Since): the other carries it
	EventChatRelayUp      EventType = "chat_relay_up"     // that relay works again
	EventTransfer         EventType = "transfer"          // a file transfer progressed or changed state (Status, Done, Total, Bytes, Rate)
)

// Event is one thing the engine reports. Every string that came from a
// peer is already sanitised (spec/client.md §9).
type Event struct {
	Type    EventType `json:"type"`
	Chat    string    `json:"chat,omitempty"`
	Name    string    `json:"name,omitempty"` // the chat's local name
	Message string    `json:"message,omitempty"`
	From    string    `json:"from,omitempty"` // the peer's nickname
	By      string    `json:"by,omitempty"`   // the admin who made a group change, for group events
	Text    string    `json:"text,omitempty"`
	Status  string    `json:"status,omitempty"`
	Relay   string    `json:"relay,omitempty"`
	Err     string    `json:"error,omitempty"`
	Time    time.Time `json:"time"`
	// Sent is a message's sent time, from its sender's clock, bounded
	// (spec/client.md §6); Time is when the event happened here.
	Sent time.Time `json:"sent,omitzero"`
	// Since is when a chat's relay started failing (chat_relay_down).
	Since time.Time `json:"since,omitzero"`
	// Done and Total count a transfer's chunks, Bytes its plaintext bytes
	// moved so far and Rate its bytes per second (transfer).
	Done  uint32 `json:"done,omitempty"`
	Total uint32 `json:"total,omitempty"`
	Bytes int64  `json:"bytes,omitempty"`
	Rate  int64  `json:"rate,omitempty"`

	ttl   time.Duration // a group TEXT's own timer (spec/groups.md §6.3), for storing it
	wire  format.WireID // a group TEXT's wire ID; a REACT's target
	reply string        // a group REPLY's target wire ID, hex
	drop  bool          // not to be emitted (a reaction that applied to nothing)
	// unread counts the log entries a group warning stands for, from the
	// sender unreadKey ("": no member signed them), the first of them
	// dropped for unreadWhy (foldUnreadable).
	unread               int
	unreadKey, unreadWhy string
	// A group FILE's descriptor, or why it was refused (fileErr).
	file    *format.FileDescriptor
	fileErr error
	isFile  bool
}

// emit delivers ev to the configured channel, waiting while the consumer
// is busy; it gives up when ctx ends. Without a channel it does nothing.
func (e *Engine) emit(ctx context.Context, ev Event) {
	if e.cfg.Events == nil || ev.drop {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = e.now()
	}
	select {
	case e.cfg.Events <- ev:
	case <-ctx.Done():
	}
}
