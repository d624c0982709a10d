// Package clustertest holds the relay's scale-out tests: several relay
// nodes (package relay) on one NATS JetStream cluster
// (relay/store/jetstream), all in the test process on 127.0.0.1, with
// clients speaking the relay protocol through relay/conn. It has no
// non-test code.
package clustertest
