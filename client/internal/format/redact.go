package format

// The types below hold capabilities or keys; their String and GoString
// methods keep them out of logs and %v (house style rule 6).

func (e Envelope) String() string   { return "envelope(redacted)" }
func (e Envelope) GoString() string { return e.String() }

func (i InviteIDs) String() string   { return "inviteIDs(redacted)" }
func (i InviteIDs) GoString() string { return i.String() }

func (k GroupInviteKeys) String() string   { return "GroupInviteKeys(redacted)" }
func (k GroupInviteKeys) GoString() string { return k.String() }
