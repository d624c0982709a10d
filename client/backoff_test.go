package client

import (
	"testing"
	"time"
)

func TestBackoffBounds(t *testing.T) {
	t.Parallel()
	b := backoff{min: 200 * time.Millisecond, max: 30 * time.Second}
	want := b.min
	for n := range 40 {
		d := b.next()
		if d < want/2 || d > want {
			t.Fatalf("attempt %d: %v outside [%v, %v]", n, d, want/2, want)
		}
		want = min(want*2, b.max)
	}
	b.reset()
	if d := b.next(); d > b.min {
		t.Fatalf("after reset: %v", d)
	}
	for n := 1; n < 100; n++ {
		if d := retryDelay(n); d <= 0 || d > 5*time.Minute {
			t.Fatalf("retryDelay(%d) = %v", n, d)
		}
	}
}
