// Package daemon serves veil's local API (spec/api.md): JSON-RPC 2.0, one
// object per line, over a Unix socket in the profile directory. One Server
// owns the unlocked engine of one profile; `veil daemon` runs it in the
// background, the TUI while it runs, and every CLI command talks to it
// when it runs (or to a Server of its own, in process, when none does).
// The PIN crosses the API only in unlock.
package daemon
