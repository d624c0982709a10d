package tui

// loadOrder orders the results of one kind of load (the chat list, the
// open chat's messages). Each load runs in its own tea.Cmd, so loads run
// concurrently and finish in any order: a load issued before an event
// can read the vault before the event's change and finish after the load
// the event issued. Showing its result would undo the change (a delivery
// mark, a timer), and no later event comes to redo it.
type loadOrder struct {
	issued uint64 // the number given to the newest load
	shown  uint64 // the number of the newest load whose result is shown
}

// next numbers a new load.
func (o *loadOrder) next() uint64 {
	o.issued++
	return o.issued
}

// fresh reports whether the result of load n may be shown: not when a
// load issued after it is shown already. It records n as shown when so.
func (o *loadOrder) fresh(n uint64) bool {
	if n < o.shown {
		return false
	}
	o.shown = n
	return true
}
