// Package format holds the client's pure encodings: the 1:1 and group
// message envelopes (spec/client.md §5, spec/groups.md §6.3), file
// descriptors, names and media types (spec/files.md §4), invite keys
// and blobs (spec/client.md §2, §3), group rosters and commits
// (spec/groups.md §3.3, §3.4), and group invites and welcomes
// (spec/groups.md §9). Each decoder is strict and has a fuzz target that
// checks a parse followed by a marshal gives back the input.
//
// The package does no I/O and starts no goroutine: it imports crypto,
// ratchet (sizes and epoch contexts), relay/wire (addresses and
// capability sizes) and the standard library, never the network, the file
// system or the vault. Its errors carry the "client:" prefix because they
// reach the user as the engine's errors.
package format
