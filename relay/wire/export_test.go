package wire

// SkipBlocks moves a Sealer's counter forward by n blocks as if it had
// sealed them, so tests reach a rekey (§5.1) without sealing 2^20 blocks.
func (s *Sealer) SkipBlocks(n uint64) {
	for range n {
		s.s.next()
	}
}

// SkipBlocks is Sealer.SkipBlocks for an Opener.
func (o *Opener) SkipBlocks(n uint64) {
	for range n {
		o.s.next()
	}
}
