package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	js "github.com/nats-io/nats.go/jetstream"

	"veil/relay/store"
)

// Tuning constants of the message shards (spec/relay-jetstream.md §3.1).
const (
	// DefaultShards is how many message streams a new deployment gets:
	// enough that on a three-server cluster every server leads several,
	// few enough that each stream's Raft group stays cheap.
	DefaultShards = 16
	// MaxShards bounds Config.Shards.
	MaxShards = 256
	// shardsKey is the stream metadata key of shard 0 that records the
	// shard count, so every node maps a mailbox to the same stream.
	shardsKey = "veil-shards"
)

// shardOf returns the shard holding rid's messages: FNV-1a (32 bits) of
// the ID modulo n (§3.1).
func shardOf(rid store.ID, n int) int {
	h := uint32(2166136261)
	for _, b := range rid {
		h ^= uint32(b)
		h *= 16777619
	}
	return int(h % uint32(n))
}

// shard returns the stream and subject of rid's messages.
func (s *Store) shard(rid store.ID) (js.Stream, string) {
	k := shardOf(rid, len(s.msgs))
	return s.msgs[k], s.names.msgSubject(k, rid)
}

// shardCount returns the shard count the cluster already uses, or want
// (DefaultShards when zero) for a new deployment. A count configured
// differently from the cluster's is overridden: nodes that disagreed
// would look for a mailbox's messages in different streams.
func (s *Store) shardCount(ctx context.Context, want int) (int, error) {
	if want == 0 {
		want = DefaultShards
	}
	var st js.Stream
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		st, err = s.js.Stream(ctx, s.names.shardStream(0))
		return err
	})
	if errors.Is(err, js.ErrStreamNotFound) {
		return want, nil
	}
	if err != nil {
		return 0, fmt.Errorf("jetstream: stream %s: %w", s.names.shardStream(0), err)
	}
	n, err := strconv.Atoi(st.CachedInfo().Config.Metadata[shardsKey])
	if err != nil || n < 1 || n > MaxShards {
		return 0, fmt.Errorf("jetstream: stream %s does not record a valid shard count", s.names.shardStream(0))
	}
	if n != want {
		s.log.Warn("jetstream: the cluster's shard count overrides the configured one", "cluster", n, "configured", want)
	}
	return n, nil
}

// claimShards returns the cluster's shard count, creating shard 0 with
// cfg(want) when the cluster has none yet. Shard 0 is created, never
// overwritten: of nodes starting together only one creates it, and the
// others read the count it records (§3.1).
func (s *Store) claimShards(ctx context.Context, want int, cfg func(shards int) js.StreamConfig) (int, error) {
	n, err := s.shardCount(ctx, want)
	if err != nil {
		return 0, err
	}
	c := cfg(n)
	err = retry(ctx, func(ctx context.Context) error {
		_, err := s.js.CreateStream(ctx, c)
		return err
	})
	if errors.Is(err, js.ErrStreamNameAlreadyInUse) {
		// It exists, maybe created by another node since we looked, or
		// with other settings that setup updates: its count rules.
		return s.shardCount(ctx, want)
	}
	if err != nil {
		return 0, fmt.Errorf("jetstream: stream %s: %w", c.Name, err)
	}
	return n, nil
}

// ShardLeaders returns, for each message shard in order, the name of the
// NATS server leading it: the placement NATS chose. For tests and
// operations tooling.
func (s *Store) ShardLeaders(ctx context.Context) ([]string, error) {
	out := make([]string, len(s.msgs))
	for k, st := range s.msgs {
		info, err := st.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("jetstream: %w", err)
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return nil, fmt.Errorf("jetstream: message shard %d has no leader", k)
		}
		out[k] = info.Cluster.Leader
	}
	return out, nil
}

// StreamLeader returns the name of the NATS server leading the most
// message shards (spec §3.1): the server whose loss forces the most
// elections on the busiest streams. For tests and operations tooling.
func (s *Store) StreamLeader(ctx context.Context) (string, error) {
	leaders, err := s.ShardLeaders(ctx)
	if err != nil {
		return "", err
	}
	n := map[string]int{}
	best := ""
	for _, l := range leaders {
		n[l]++
		if n[l] > n[best] || (n[l] == n[best] && l < best) {
			best = l
		}
	}
	return best, nil
}

// MailboxLeader returns the name of the NATS server leading the shard
// that holds rid's messages. For tests and operations tooling.
func (s *Store) MailboxLeader(ctx context.Context, rid store.ID) (string, error) {
	st, _ := s.shard(rid)
	info, err := st.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("jetstream: %w", err)
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return "", errors.New("jetstream: the mailbox's message shard has no leader")
	}
	return info.Cluster.Leader, nil
}
