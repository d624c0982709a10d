package relay

import (
	"testing"
	"time"

	"veil/crypto"
)

func TestReplayCacheKeepsKeysForTwiceTheSkew(t *testing.T) {
	var rc replayCache
	t0 := time.Unix(1_800_000_000, 0)
	a, b := crypto.DHPublic{1}, crypto.DHPublic{2}
	if rc.has(a, t0) || !rc.add(a, t0) {
		t.Fatal("a new key is not new")
	}
	if !rc.has(a, t0) || rc.add(a, t0) {
		t.Fatal("an accepted key is not remembered")
	}
	if !rc.add(b, t0.Add(time.Minute)) {
		t.Fatal("b")
	}
	if !rc.has(a, t0.Add(replayKeep-time.Nanosecond)) {
		t.Fatal("forgotten before replayKeep")
	}
	if rc.has(a, t0.Add(replayKeep)) {
		t.Fatal("remembered past replayKeep")
	}
	if !rc.has(b, t0.Add(replayKeep)) {
		t.Fatal("a younger key went with an older one")
	}
	if rc.has(b, t0.Add(replayKeep+time.Minute)) || len(rc.seen) != 0 || len(rc.order) != 0 {
		t.Fatalf("not empty: %d %d", len(rc.seen), len(rc.order))
	}
}

func TestReplayCacheBounded(t *testing.T) {
	rc := replayCache{max: 3}
	t0 := time.Unix(1_800_000_000, 0)
	for i := range 10 {
		if !rc.add(crypto.DHPublic{byte(i)}, t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("key %d", i)
		}
		if len(rc.seen) > 3 || len(rc.order)-rc.head != len(rc.seen) {
			t.Fatalf("after %d: %d keys, %d in order", i, len(rc.seen), len(rc.order)-rc.head)
		}
	}
	now := t0.Add(10 * time.Second)
	for i := range 10 {
		if got, want := rc.has(crypto.DHPublic{byte(i)}, now), i >= 7; got != want {
			t.Fatalf("key %d remembered %v", i, got)
		}
	}
}
