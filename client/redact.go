package client

// The types below hold capabilities or keys; their String and GoString
// methods keep them out of logs and %v (house style rule 6).

func (t task) String() string   { return "task(" + t.Kind + ", redacted)" }
func (t task) GoString() string { return t.String() }

func (m chatMeta) String() string   { return "chatMeta(redacted)" }
func (m chatMeta) GoString() string { return m.String() }

func (d dest) String() string   { return "dest(redacted)" }
func (d dest) GoString() string { return d.String() }

func (d slotDest) String() string   { return "slotDest(" + shortRelay(d.relay) + ", redacted)" }
func (d slotDest) GoString() string { return d.String() }

func (m ourMailbox) String() string   { return "ourMailbox(" + shortRelay(m.relay) + ", redacted)" }
func (m ourMailbox) GoString() string { return m.String() }
