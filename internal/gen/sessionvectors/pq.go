package sessionvectors

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"veil/ratchet"
)

// PQFile is the committed vector file of the KEM ratchet (spec/session.md
// §14), relative to the repository root.
const PQFile = "spec/vectors/session/pq.json"

// Seeds of the KEM ratchet vectors' two random streams.
const (
	PQInviterSeed = "veil pq vectors: inviter........"
	PQJoinerSeed  = "veil pq vectors: joiner........."
)

// PQVectors is the JSON document of the KEM ratchet vectors.
type PQVectors struct {
	Comment       string     `json:"comment"`
	InviterSeed   string     `json:"inviter_seed"`
	JoinerSeed    string     `json:"joiner_seed"`
	ClockUnix     int64      `json:"clock_unix"`
	Bundle        string     `json:"bundle"`
	BundlePrivate string     `json:"bundle_private"`
	JoinerInitial string     `json:"joiner_state_after_initiate"`
	Messages      []Message  `json:"messages"`
	Events        []PQEvent  `json:"events"`
	SafetyCode    string     `json:"safety_code"`
	FinalPQ       PQFinal    `json:"final_pq"`
	FinalStates   FinalState `json:"final_states"`
}

// PQEvent is one step of the run: "send N" (the sender encrypts message
// N), "deliver N" (its receiver decrypts it), "drop N" (it is never
// delivered) or "duplicate N" (a second delivery, which must fail as a
// duplicate and change nothing). Side is the side that acted, and PQ its
// KEM ratchet after the step.
type PQEvent struct {
	Event  string `json:"event"`
	Side   string `json:"side"`
	PQ     PQNote `json:"pq"`
	Change string `json:"change,omitempty"`
}

// PQNote is a side's Session.PQ() with the epoch of its phase (Epochs + 1
// while on: the phase's epoch is always one past the completed ones).
type PQNote struct {
	Phase  string `json:"phase"`
	Epoch  uint32 `json:"epoch"`
	Epochs uint32 `json:"epochs"`
}

// PQFinal holds both sides' KEM ratchet after the run.
type PQFinal struct {
	Joiner  PQNote `json:"joiner"`
	Inviter PQNote `json:"inviter"`
}

func pqNote(s ratchet.PQStatus) PQNote {
	n := PQNote{Phase: s.Phase, Epochs: s.Epochs}
	if s.On {
		n.Epoch = s.Epochs + 1
	}
	return n
}

// pqChange names what a step did to a side's KEM ratchet, from its status
// before and after.
func pqChange(before, after PQNote) string {
	if before == after {
		return ""
	}
	switch e := before.Epoch; {
	case before.Phase == "off" && after.Phase == "send-ct":
		return fmt.Sprintf("on from the bundle; ek of epoch %d complete: encapsulated", after.Epoch)
	case before.Phase == "off":
		return "turned on"
	case before.Phase == "send-ek" && after.Phase == "mix-pending":
		return fmt.Sprintf("ct of epoch %d complete: decapsulated, E pending", e)
	case before.Phase == "send-ek" && after.Phase == "recv-ek":
		return fmt.Sprintf("ct of epoch %d complete in a DH step: decapsulated and mixed", e)
	case before.Phase == "mix-pending" && after.Phase == "recv-ek":
		return fmt.Sprintf("epoch %d mixed into the new sending chain", e)
	case before.Phase == "recv-ek" && after.Phase == "send-ct":
		return fmt.Sprintf("ek of epoch %d complete: encapsulated", e)
	case before.Phase == "send-ct" && after.Phase == "send-ek":
		return fmt.Sprintf("epoch %d confirmed by the peer's mixed chain", e)
	}
	return fmt.Sprintf("%s/%d to %s/%d", before.Phase, before.Epoch, after.Phase, after.Epoch)
}

// pqText is the fixed plaintext of message id: n bytes of readable text.
func pqText(id, n int) string {
	s := strings.Repeat(fmt.Sprintf("message %d of the KEM ratchet vectors. ", id), n/30+1)
	return s[:n]
}

// pqScript is the conversation: each entry sends a message of the given
// length or acts on an earlier message by its ID.
type pqStep struct {
	op   string // "send", "deliver", "drop", "duplicate"
	from string // sender, for "send"
	n    int    // plaintext length, for "send"; message ID otherwise
	note string // for "send": why the message is there
}

var pqScript = []pqStep{
	{"send", "joiner", 20, "initial message: the whole ek of epoch 1 and parity"},
	{"deliver", "", 0, ""},
	{"send", "inviter", 100, "the first ct chunks of epoch 1; dropped"},
	{"drop", "", 1, ""},
	{"send", "inviter", 100, "more ct chunks of epoch 1"},
	{"deliver", "", 2, ""},
	{"send", "joiner", 50, "a reply: a DH step that gives the inviter more allowance"},
	{"deliver", "", 3, ""},
	{"send", "inviter", 100, "parity chunks that complete the ct without the dropped message"},
	{"deliver", "", 4, ""},
	{"send", "joiner", 40, "the first message of the joiner's mixed chain: confirms epoch 1"},
	{"deliver", "", 5, ""},
	{"send", "inviter", 20, "ek chunks of epoch 2, delivered second"},
	{"send", "inviter", 20, "more ek chunks of epoch 2, delivered first"},
	{"deliver", "", 7, ""},
	{"deliver", "", 6, ""},
	{"duplicate", "", 7, ""},
	{"send", "joiner", 1000, "a 4 KiB message: the whole ct of epoch 2 and parity"},
	{"deliver", "", 8, ""},
	{"send", "inviter", 60, "the first message of the inviter's mixed chain: confirms epoch 2"},
	{"deliver", "", 9, ""},
	{"send", "joiner", 300, "the first ek chunks of epoch 3"},
	{"deliver", "", 10, ""},
	{"send", "inviter", 900, "nothing to attach while receiving an ek; delivered second"},
	{"send", "inviter", 850, "nothing to attach; delivered first"},
	{"deliver", "", 12, ""},
	{"deliver", "", 11, ""},
	{"send", "joiner", 890, "no room for a chunk"},
	{"deliver", "", 13, ""},
	{"send", "inviter", 0, "an empty message"},
	{"deliver", "", 14, ""},
	{"send", "joiner", 700, "a few more ek chunks of epoch 3"},
	{"deliver", "", 15, ""},
	{"send", "joiner", 875, "one ek chunk"},
	{"send", "joiner", 870, "one ek chunk"},
	{"deliver", "", 16, ""},
	{"deliver", "", 17, ""},
	{"send", "inviter", 860, "nothing to attach"},
	{"deliver", "", 18, ""},
	{"send", "joiner", 895, "no room for a chunk"},
	{"deliver", "", 19, ""},
	{"send", "inviter", 899, "nothing to attach"},
	{"deliver", "", 20, ""},
	{"send", "joiner", 897, "no room for a chunk"},
	{"deliver", "", 21, ""},
	{"send", "inviter", 898, "nothing to attach"},
	{"deliver", "", 22, ""},
	{"send", "joiner", 896, "no room for a chunk"},
	{"deliver", "", 23, ""},
}

// GeneratePQ runs the KEM ratchet conversation and returns the indented
// JSON document.
func GeneratePQ() ([]byte, error) {
	inv, join := config(PQInviterSeed), config(PQJoinerSeed)
	bp, bundle, joiner, err := handshake(inv, join)
	if err != nil {
		return nil, err
	}
	v := &PQVectors{
		Comment: "veil KEM ratchet vectors (spec/session.md §14): a handshake on a version 0x02 bundle and a " +
			"scripted conversation with fixed plaintexts, in which epochs 1 (joiner's ek) and 2 (inviter's ek) " +
			"complete and epoch 3 begins, with a dropped message whose chunks parity replaces, a reordered pair, " +
			"a duplicate and a 4 KiB message. Replay 'events' in order: 'send N' encrypts message N, " +
			"'deliver N' decrypts it, 'drop N' never delivers it, 'duplicate N' delivers it again (a duplicate, " +
			"no change). Each event gives the acting side's Session.PQ() after it (epoch = epochs + 1 while on) " +
			"and what changed. Hex throughout. Generated by internal/gen/sessionvectors.",
		InviterSeed:   PQInviterSeed,
		JoinerSeed:    PQJoinerSeed,
		ClockUnix:     clock.Unix(),
		Bundle:        hex.EncodeToString(bundle),
		BundlePrivate: hex.EncodeToString(bp.Marshal()),
		JoinerInitial: hex.EncodeToString(joiner.Marshal()),
	}
	var inviter *ratchet.Session
	side := func(name string) *ratchet.Session {
		if name == "joiner" {
			return joiner
		}
		return inviter
	}
	other := map[string]string{"joiner": "inviter", "inviter": "joiner"}
	wires := map[int][]byte{}
	for _, st := range pqScript {
		var actor string
		var before PQNote
		if st.op == "send" {
			actor = st.from
		} else {
			if st.n >= len(v.Messages) {
				return nil, fmt.Errorf("sessionvectors: pq script acts on unsent message %d", st.n)
			}
			actor = other[v.Messages[st.n].From]
		}
		if s := side(actor); s != nil {
			before = pqNote(s.PQ())
		} else {
			before = PQNote{Phase: "off"}
		}
		switch st.op {
		case "send":
			id := len(v.Messages)
			pt := pqText(id, st.n)
			m, err := side(actor).Encrypt([]byte(pt))
			if err != nil {
				return nil, fmt.Errorf("sessionvectors: pq message %d: %w", id, err)
			}
			wires[id] = m
			v.Messages = append(v.Messages, Message{ID: id, From: actor, Plaintext: pt,
				Wire: hex.EncodeToString(m), Initial: ratchet.IsInitial(m), Note: st.note})
			st.n = id
		case "deliver":
			var pt []byte
			var err error
			if inviter == nil {
				inviter, pt, err = ratchet.Respond(inv, bp, wires[st.n])
				before = PQNote{Phase: "off"}
			} else {
				pt, err = side(actor).Decrypt(wires[st.n])
			}
			if err != nil {
				return nil, fmt.Errorf("sessionvectors: pq message %d: %w", st.n, err)
			}
			if string(pt) != v.Messages[st.n].Plaintext {
				return nil, fmt.Errorf("sessionvectors: pq message %d: wrong plaintext", st.n)
			}
		case "duplicate":
			if _, err := side(actor).Decrypt(wires[st.n]); !errors.Is(err, ratchet.ErrDuplicate) {
				return nil, fmt.Errorf("sessionvectors: pq message %d again: %v", st.n, err)
			}
		case "drop":
		default:
			return nil, fmt.Errorf("sessionvectors: pq script: unknown step %q", st.op)
		}
		ev := PQEvent{Event: fmt.Sprint(st.op, " ", st.n), Side: actor, PQ: before}
		if s := side(actor); s != nil {
			ev.PQ = pqNote(s.PQ())
		}
		ev.Change = pqChange(before, ev.PQ)
		v.Events = append(v.Events, ev)
	}
	if joiner.SafetyCode() != inviter.SafetyCode() {
		return nil, errors.New("sessionvectors: pq safety codes differ")
	}
	v.SafetyCode = joiner.SafetyCode()
	v.FinalPQ = PQFinal{Joiner: pqNote(joiner.PQ()), Inviter: pqNote(inviter.PQ())}
	if v.FinalPQ.Joiner != (PQNote{"send-ek", 3, 2}) || v.FinalPQ.Inviter != (PQNote{"recv-ek", 3, 2}) {
		return nil, errors.New("sessionvectors: the pq script did not complete epochs 1 and 2 and begin 3")
	}
	v.FinalStates = FinalState{Joiner: hex.EncodeToString(joiner.Marshal()), Inviter: hex.EncodeToString(inviter.Marshal())}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
