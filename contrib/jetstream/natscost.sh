#!/usr/bin/env bash
# The NATS server's CPU per mailbox message for the least the relay's
# JetStream store must ask of it: one acknowledged publish to a file-storage
# stream, one read, one delete (contrib/jetstream/natscost/main.go says
# how). nats-server is built from the Go module the tests use; it listens
# on 127.0.0.1 only, gets a fresh store for each run, and every run stops
# by itself. Flags go to natscost, e.g.
#
#   contrib/jetstream/natscost.sh --runs 3 --batch 16 --purge
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/nats-server" github.com/nats-io/nats-server/v2
go build -o "$work/natscost" ./contrib/jetstream/natscost
"$work/natscost" --server "$work/nats-server" "$@"
