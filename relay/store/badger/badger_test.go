package badger

import (
	"testing"

	"veil/relay/store"
	"veil/relay/store/storetest"
)

func open(t testing.TB) *Store {
	t.Helper()
	s, err := Open(Config{Dir: t.TempDir(), MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}
