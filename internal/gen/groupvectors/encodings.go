package groupvectors

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"veil/crypto"
	"veil/ratchet"
)

// EncodingsFile holds the roster, commit and hybrid seal encodings of
// spec/groups.md §3.3, §5.3 and §6.3, relative to the repository root.
// The generator writes them from the spec's byte layouts on its own (it
// does not use the client's encoder), so the client's tests check one
// implementation against another.
const EncodingsFile = "spec/vectors/groups/encodings.json"

// EncodingsSeed drives every key, secret and nonce of EncodingsFile, in
// the order spec/groups.md §10 gives.
const EncodingsSeed = "veil group vectors: encodings..."

// Encoding labels and values, spec/groups.md §2, §3.3 and §6.3.
const (
	labelRoster     = "veil/group/v2/roster"
	labelCommit     = "veil/group/v2/commit"
	labelCommitHash = "veil/group/v2/commit-hash"
	// labelSecretCommit labels the commit's commitment to the new epoch
	// secret (§6.3).
	labelSecretCommit = "veil/group/v2/secret-commit"
	labelConfirm      = "veil/group/v2/confirm"
	// Group envelope and welcome layout, spec/groups.md §6.3, §9.2.
	groupEnvVersion  = 2
	confTagSize      = 16
	commitPartBytes  = 15842 - (1 + confTagSize + 1 + 32 + 2)
	welcomeVersion   = 2
	welcomePartBytes = 16000 - 40 - 1 - 11
	recordVersion    = 2
	roleMember       = 1
	roleAdmin        = 2
)

// Encodings is the JSON document of EncodingsFile.
type Encodings struct {
	Comment  string      `json:"comment"`
	Seed     string      `json:"seed"`
	GroupID  string      `json:"group_id"`
	Members  []KeySet    `json:"members"`
	Joiner   KeySet      `json:"joiner"`
	Update   KeySet      `json:"update"`
	Roster   RosterVec   `json:"roster"`
	Commits  []CommitVec `json:"commits"`
	SealSeed string      `json:"seal_seed"`
	Seal     SealVec     `json:"seal"`
	// Conf is epoch 1's confirmation value (§6.6); each commit has the
	// value of the epoch it makes, its parts (§6.3) and, for the add,
	// the joiner's welcome (§9.2).
	Conf string `json:"conf"`
	// ZeroNext is the NEXT envelope plaintext of a member cut off in
	// epoch 1: epoch 1's tag, then 16 zero bytes (§6.6).
	ZeroNext string     `json:"zero_next"`
	Welcome  WelcomeVec `json:"welcome"`
	// Invite is a group invite blob and what its key derives (§9.1,
	// §9.2), on its own stream.
	Invite InviteVec `json:"invite"`
}

// InviteVec is a version-3 group invite blob and the exchange log's keys:
// the capabilities and K0 from the invite secret and salt, and the
// exchange key K from K0, the blob's exchange secret and the log ID.
type InviteVec struct {
	Seed     string `json:"seed"`
	Secret   string `json:"secret"`
	Salt     string `json:"salt"`
	LogID    string `json:"log_id"`
	Token    string `json:"token"`
	Exchange string `json:"exchange_secret"`
	Deadline uint64 `json:"deadline"`
	Name     string `json:"name"`
	Blob     string `json:"blob"`
	Write    string `json:"write"`
	Read     string `json:"read"`
	K0       string `json:"k0"`
	Key      string `json:"key"`
}

// WelcomeVec is the welcome of the add commit's joiner and its parts.
type WelcomeVec struct {
	ID      string   `json:"welcome_id"`
	Welcome string   `json:"welcome"`
	Parts   []string `json:"parts"`
}

// KeySet is one set of per-group keys: S, P and Q with their private
// forms.
type KeySet struct {
	Nick       string `json:"nick"`
	SignSeed   string `json:"sign_seed"`
	SignPublic string `json:"sign_public"`
	DHPrivate  string `json:"dh_private"`
	DHPublic   string `json:"dh_public"`
	KEMSeed    string `json:"kem_seed"`
	KEMPublic  string `json:"kem_public"`
	Entry      string `json:"entry"` // the roster entry, with the role it has in the roster
}

// RosterVec is the epoch-1 roster record and its hash.
type RosterVec struct {
	Epoch    uint64 `json:"epoch"`
	Name     string `json:"name"`
	Timer    uint32 `json:"timer"`
	Deadline uint64 `json:"deadline"`
	Record   string `json:"record"`
	Hash     string `json:"hash"`
}

// CommitVec is one commit on the epoch-1 roster.
type CommitVec struct {
	Name      string   `json:"name"`
	Change    byte     `json:"change"`
	Signer    int      `json:"signer"` // index in the old roster; its old key signs
	Operand   string   `json:"operand"`
	NewRoster string   `json:"new_roster"`
	NewHash   string   `json:"new_hash"`
	Secret    string   `json:"secret"`
	Sealed    string   `json:"sealed"`
	LogID     string   `json:"log_id"`
	SealedID  string   `json:"sealed_log_id"`
	Commit    string   `json:"commit"`
	Hash      string   `json:"commit_hash"`
	Conf      string   `json:"conf"`  // the new epoch's confirmation value
	Parts     []string `json:"parts"` // the commit's parts: group envelope plaintexts
	// Next is the NEXT envelope plaintext (0x08, §6.6) a member moving to
	// the epoch this commit makes appends to epoch 1's log: epoch 1's tag,
	// then the new epoch's.
	Next string `json:"next"`
}

// SealVec is one hybrid seal (§5.3) to the three members.
type SealVec struct {
	Epoch  uint64 `json:"epoch"`
	Secret string `json:"secret"`
	Sealed string `json:"sealed"`
}

type keySet struct {
	nick string
	sign crypto.SignPrivate
	dh   crypto.DHPrivate
	kem  crypto.KEM768Private
	role byte
}

// nextEnvelope is a NEXT envelope plaintext sealed in the epoch whose
// confirmation value is conf, carrying tag (spec/groups.md §6.3, §6.6).
func nextEnvelope(conf *[crypto.HashSize]byte, tag []byte) []byte {
	b := []byte{groupEnvVersion}
	b = append(b, conf[:confTagSize]...)
	b = append(b, 0x08)
	return append(b, tag...)
}

func drawKeys(r *rand.ChaCha8, nick string, role byte) (keySet, error) {
	k := keySet{nick: nick, role: role}
	var err error
	if k.sign, err = crypto.GenerateSign(r); err != nil {
		return k, err
	}
	if k.dh, err = crypto.GenerateDH(r); err != nil {
		return k, err
	}
	k.kem, err = crypto.GenerateKEM768(r)
	return k, err
}

// entry is the roster entry: S || P || Q || role || nick length || nick.
func (k *keySet) entry() []byte {
	s, p := k.sign.Public(), k.dh.Public()
	b := append(append([]byte(nil), s[:]...), p[:]...)
	b = append(b, k.kem.Public().Bytes()...)
	b = append(b, k.role, byte(len(k.nick)))
	return append(b, k.nick...)
}

func (k *keySet) vec() KeySet {
	s, p := k.sign.Public(), k.dh.Public()
	return KeySet{Nick: k.nick, SignSeed: hex.EncodeToString(k.sign.Seed()), SignPublic: hex.EncodeToString(s[:]),
		DHPrivate: hex.EncodeToString(k.dh.Bytes()), DHPublic: hex.EncodeToString(p[:]),
		KEMSeed: hex.EncodeToString(k.kem.Seed()), KEMPublic: hex.EncodeToString(k.kem.Public().Bytes()),
		Entry: hex.EncodeToString(k.entry())}
}

type settings struct {
	name     string
	timer    uint32
	deadline uint64
}

func (s settings) bytes() []byte {
	b := append([]byte{byte(len(s.name))}, s.name...)
	b = binary.BigEndian.AppendUint32(b, s.timer)
	return binary.BigEndian.AppendUint64(b, s.deadline)
}

func rosterRecord(id [ratchet.GroupIDSize]byte, epoch uint64, st settings, ms []keySet) []byte {
	b := append([]byte{recordVersion}, id[:]...)
	b = binary.BigEndian.AppendUint64(b, epoch)
	b = append(b, st.bytes()...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(ms)))
	for i := range ms {
		b = append(b, ms[i].entry()...)
	}
	return b
}

// GenerateEncodings builds EncodingsFile's document.
func GenerateEncodings() ([]byte, error) {
	r := rand.NewChaCha8(seed(EncodingsSeed))
	v := &Encodings{
		Comment: "veil group encodings (spec/groups.md §10): the roster record, one commit of every change " +
			"on it, and a hybrid seal. Every key, secret and nonce comes from seed (and the seal's from " +
			"seal_seed) in the order spec/groups.md §10 gives. Hex throughout. Generated by internal/gen/groupvectors.",
		Seed: EncodingsSeed,
	}
	var id [ratchet.GroupIDSize]byte
	if err := crypto.RandomBytes(r, id[:]); err != nil {
		return nil, err
	}
	v.GroupID = hex.EncodeToString(id[:])
	var old []keySet
	for i, nick := range []string{"ana", "ben", "cat"} {
		role := byte(roleMember)
		if i == 0 {
			role = roleAdmin
		}
		k, err := drawKeys(r, nick, role)
		if err != nil {
			return nil, err
		}
		old = append(old, k)
		v.Members = append(v.Members, k.vec())
	}
	joiner, err := drawKeys(r, "dan", roleMember)
	if err != nil {
		return nil, err
	}
	v.Joiner = joiner.vec()
	upd, err := drawKeys(r, "ben", roleMember)
	if err != nil {
		return nil, err
	}
	v.Update = upd.vec()

	st := settings{name: "river", timer: 3600}
	rec := rosterRecord(id, 1, st, old)
	oldHash := crypto.Hash([]byte(labelRoster), rec)
	var zero [32]byte
	conf1 := crypto.Hash([]byte(labelConfirm), zero[:], oldHash[:], zero[:])
	v.Conf = hex.EncodeToString(conf1[:])
	v.ZeroNext = hex.EncodeToString(nextEnvelope(&conf1, make([]byte, confTagSize)))
	v.Roster = RosterVec{Epoch: 1, Name: st.name, Timer: st.timer, Record: hex.EncodeToString(rec), Hash: hex.EncodeToString(oldHash[:])}
	oldCtx := ratchet.EpochContext(id, 1)
	newCtx := ratchet.EpochContext(id, 2)

	index := func(i int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(i)) }
	clone := func() []keySet { return append([]keySet(nil), old...) }
	lake := settings{name: "lake", timer: 0, deadline: 1798761600}
	type change struct {
		name    string
		code    byte
		signer  int
		operand []byte
		next    []keySet
		st      settings
	}
	promoted := clone()
	promoted[1].role = roleAdmin
	updated := clone()
	updated[1] = upd
	changes := []change{
		{"add", 1, 0, joiner.entry(), append(clone(), joiner), st},
		{"remove", 2, 0, index(2), clone()[:2], st},
		{"leave", 3, 0, index(1), []keySet{old[0], old[2]}, st},
		{"promote", 4, 0, index(1), promoted, st},
		{"settings", 5, 0, lake.bytes(), clone(), lake},
		{"update", 6, 1, append(index(1), upd.entry()...), updated, st},
	}
	for _, c := range changes {
		next := rosterRecord(id, 2, c.st, c.next)
		newHash := crypto.Hash([]byte(labelRoster), next)
		secret, err := crypto.NewSymKey(r)
		if err != nil {
			return nil, err
		}
		rcpt := make([]ratchet.SealRecipient, len(c.next))
		pubs := make([]crypto.SignPublic, len(c.next))
		for i := range c.next {
			rcpt[i] = ratchet.SealRecipient{DH: c.next[i].dh.Public(), KEM: c.next[i].kem.Public()}
			pubs[i] = c.next[i].sign.Public()
		}
		sealed, err := ratchet.SealEpochSecret(&secret, newCtx, rcpt, r)
		if err != nil {
			return nil, err
		}
		var logID crypto.ID
		if err := crypto.RandomBytes(r, logID[:]); err != nil {
			return nil, err
		}
		ep, err := ratchet.NewGroupEpoch(ratchet.Config{Rand: r}, &secret, id, 2, c.next[0].sign, pubs)
		if err != nil {
			return nil, err
		}
		sealedID, err := ep.SealLogID(logID)
		if err != nil {
			return nil, err
		}
		signer := old[c.signer].sign
		sp := signer.Public()
		b := []byte{recordVersion}
		b = binary.BigEndian.AppendUint64(b, 2)
		b = append(b, oldHash[:]...)
		b = append(b, c.code)
		b = binary.BigEndian.AppendUint16(b, uint16(len(c.operand)))
		b = append(b, c.operand...)
		b = append(b, newHash[:]...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(sealed)))
		b = append(b, sealed...)
		sh := crypto.Hash([]byte(labelSecretCommit), newCtx[:], secret[:])
		b = append(b, sh[:]...)
		b = append(b, sealedID...)
		b = append(b, sp[:]...)
		msg := append(append([]byte(labelCommit), oldCtx[:]...), b...)
		b = append(b, signer.Sign(msg)...)
		h := crypto.Hash([]byte(labelCommitHash), b)
		conf2 := crypto.Hash([]byte(labelConfirm), conf1[:], newHash[:], h[:])
		var parts []string
		for i, n := 0, (len(b)+commitPartBytes-1)/commitPartBytes; i < n; i++ {
			pt := []byte{groupEnvVersion}
			pt = append(pt, conf1[:confTagSize]...)
			pt = append(pt, 0x04)
			pt = append(pt, h[:]...)
			pt = append(pt, byte(i), byte(n))
			pt = append(pt, b[i*commitPartBytes:min((i+1)*commitPartBytes, len(b))]...)
			parts = append(parts, hex.EncodeToString(pt))
		}
		if c.name == "add" {
			// The welcome on its own stream: the welcome ID only.
			wr := rand.NewChaCha8(seed("veil group vectors: welcome ID.."))
			var wid [8]byte
			if err := crypto.RandomBytes(wr, wid[:]); err != nil {
				return nil, err
			}
			w := []byte{welcomeVersion}
			w = binary.BigEndian.AppendUint32(w, uint32(len(next)))
			w = append(w, next...)
			w = append(w, secret[:]...)
			w = append(w, logID[:]...)
			w = append(w, conf2[:]...)
			v.Welcome = WelcomeVec{ID: hex.EncodeToString(wid[:]), Welcome: hex.EncodeToString(w)}
			for i, n := 0, (len(w)+welcomePartBytes-1)/welcomePartBytes; i < n; i++ {
				pt := []byte{welcomeVersion}
				pt = append(pt, wid[:]...)
				pt = append(pt, byte(i), byte(n))
				pt = append(pt, w[i*welcomePartBytes:min((i+1)*welcomePartBytes, len(w))]...)
				v.Welcome.Parts = append(v.Welcome.Parts, hex.EncodeToString(pt))
			}
		}
		v.Commits = append(v.Commits, CommitVec{
			Conf: hex.EncodeToString(conf2[:]), Parts: parts, Next: hex.EncodeToString(nextEnvelope(&conf1, conf2[:confTagSize])),
			Name: c.name, Change: c.code, Signer: c.signer, Operand: hex.EncodeToString(c.operand),
			NewRoster: hex.EncodeToString(next), NewHash: hex.EncodeToString(newHash[:]),
			Secret: hex.EncodeToString(secret[:]), Sealed: hex.EncodeToString(sealed),
			LogID: hex.EncodeToString(logID[:]), SealedID: hex.EncodeToString(sealedID), Commit: hex.EncodeToString(b), Hash: hex.EncodeToString(h[:]),
		})
		for i := range c.next {
			got, err := ratchet.OpenEpochSecret(sealed, newCtx, i, c.next[i].dh, &c.next[i].kem)
			if err != nil || got != secret {
				return nil, fmt.Errorf("%s: member %d cannot open the seal: %v", c.name, i, err)
			}
		}
	}

	// The hybrid seal on its own stream: the epoch secret, then E's
	// private key, then one encapsulation seed per recipient.
	v.SealSeed = "veil group vectors: hybrid seal."
	sr := rand.NewChaCha8(seed(v.SealSeed))
	secret, err := crypto.NewSymKey(sr)
	if err != nil {
		return nil, err
	}
	rcpt := make([]ratchet.SealRecipient, len(old))
	for i := range old {
		rcpt[i] = ratchet.SealRecipient{DH: old[i].dh.Public(), KEM: old[i].kem.Public()}
	}
	sealed, err := ratchet.SealEpochSecret(&secret, oldCtx, rcpt, sr)
	if err != nil {
		return nil, err
	}
	v.Seal = SealVec{Epoch: 1, Secret: hex.EncodeToString(secret[:]), Sealed: hex.EncodeToString(sealed)}

	inv, err := inviteVec()
	if err != nil {
		return nil, err
	}
	v.Invite = *inv

	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// inviteVec draws, on its own stream, the invite secret, the salt (the
// relay's fingerprint), the exchange log's ID, the join token and the
// exchange secret, in that order, and lays out the blob and the keys of
// spec/groups.md §9.1 and §9.2.
func inviteVec() (*InviteVec, error) {
	v := &InviteVec{Seed: "veil group vectors: invite blob.", Deadline: 1767225600, Name: "river"}
	r := rand.NewChaCha8(seed(v.Seed))
	var secret, salt, x [32]byte
	var logID [24]byte
	var token [16]byte
	for _, b := range [][]byte{secret[:], salt[:], logID[:], token[:], x[:]} {
		if err := crypto.RandomBytes(r, b); err != nil {
			return nil, err
		}
	}
	blob := []byte{0x47, 3}
	blob = append(blob, logID[:]...)
	blob = append(blob, token[:]...)
	blob = append(blob, x[:]...)
	blob = binary.BigEndian.AppendUint64(blob, v.Deadline)
	blob = append(blob, byte(len(v.Name)))
	blob = append(blob, v.Name...)
	var w, rd, k0, k [32]byte
	crypto.HKDF(w[:], secret[:], salt[:], "veil-client/v2/group invite log write")
	crypto.HKDF(rd[:], secret[:], salt[:], "veil-client/v2/group invite log read")
	crypto.HKDF(k0[:], secret[:], salt[:], "veil-client/v2/group invite key")
	crypto.HKDF(k[:], append(k0[:], x[:]...), logID[:], "veil-client/v2/group exchange key")
	v.Secret, v.Salt, v.LogID = hex.EncodeToString(secret[:]), hex.EncodeToString(salt[:]), hex.EncodeToString(logID[:])
	v.Token, v.Exchange, v.Blob = hex.EncodeToString(token[:]), hex.EncodeToString(x[:]), hex.EncodeToString(blob)
	v.Write, v.Read = hex.EncodeToString(w[:]), hex.EncodeToString(rd[:])
	v.K0, v.Key = hex.EncodeToString(k0[:]), hex.EncodeToString(k[:])
	return v, nil
}
