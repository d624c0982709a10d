package wire

import (
	"encoding/base64"
	"net/netip"
	"strconv"
	"strings"

	"veil/crypto"
)

// Fingerprint is SHA-256 of a relay's Ed25519 identity key (spec/relay.md §3.1).
type Fingerprint [32]byte

// FingerprintOf returns the fingerprint of a relay identity key.
func FingerprintOf(identity crypto.SignPublic) Fingerprint {
	return Fingerprint(crypto.Hash(identity[:]))
}

// String is the unpadded base64url encoding used in addresses (43 characters).
func (f Fingerprint) String() string { return base64.RawURLEncoding.EncodeToString(f[:]) }

// ParseFingerprint decodes the 43-character form.
func ParseFingerprint(s string) (Fingerprint, error) {
	var f Fingerprint
	if len(s) != 43 {
		return f, malformed("fingerprint must be 43 characters, got %d", len(s))
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != len(f) {
		return f, malformed("fingerprint is not unpadded base64url")
	}
	copy(f[:], b)
	return f, nil
}

// Address schemes (§3.2).
const (
	SchemeTLS   = "veil"
	SchemePlain = "veil+ws"
)

// Address is a relay address (§3.2).
type Address struct {
	TLS         bool   // veil:// (wss) when true, veil+ws:// (ws) when false
	Host        string // without brackets
	Port        uint16
	Fingerprint Fingerprint
}

// String returns the canonical text form (§3.4): the scheme, the host in
// its canonical form (canonicalHost), the decimal port and the
// fingerprint, with nothing between the port and "#".
func (a Address) String() string {
	scheme := SchemePlain
	if a.TLS {
		scheme = SchemeTLS
	}
	return scheme + "://" + joinHostPort(canonicalHost(a.Host), a.Port) + "#" + a.Fingerprint.String()
}

// canonicalHost returns host in the canonical form of §3.4: an IP
// address as net/netip formats it (IPv4 dotted decimal, IPv6 as RFC 5952
// says), anything else (a DNS name) in lower case.
func canonicalHost(host string) string {
	if ip, err := netip.ParseAddr(host); err == nil && ip.Zone() == "" {
		return ip.String()
	}
	return strings.ToLower(host)
}

// WebSocketURL returns the URL to dial (§2.1).
func (a Address) WebSocketURL() string {
	scheme := "ws"
	if a.TLS {
		scheme = "wss"
	}
	return scheme + "://" + joinHostPort(a.Host, a.Port) + "/v1"
}

// ParseAddress parses a relay address (§3.2). Besides the canonical form
// String produces it accepts a "/" before the fragment, a DNS name in any
// case, an IPv6 address in any form net/netip reads and an IPv4 address
// in brackets; the Address it returns holds the canonical host.
func ParseAddress(s string) (Address, error) {
	a, err := parseAddress(s)
	if err != nil {
		return Address{}, err
	}
	return a, nil
}

func parseAddress(s string) (Address, error) {
	var a Address
	if len(s) > MaxAddress {
		return a, malformed("relay address too long")
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return a, malformed("relay address has no scheme")
	}
	switch scheme {
	case SchemeTLS:
		a.TLS = true
	case SchemePlain:
	default:
		return a, malformed("relay address scheme must be %s or %s", SchemeTLS, SchemePlain)
	}
	hostport, frag, ok := strings.Cut(rest, "#")
	if !ok {
		return a, malformed("relay address has no #fingerprint")
	}
	hostport = strings.TrimSuffix(hostport, "/")
	if strings.ContainsAny(hostport, "/?@ \t\r\n") {
		return a, malformed("relay address must be scheme://host:port#fingerprint")
	}
	host, port, ok := splitHostPort(hostport)
	if !ok || host == "" {
		return a, malformed("relay address: bad host:port")
	}
	if strings.Contains(host, ":") && !strings.HasPrefix(hostport, "[") {
		return a, malformed("relay address: IPv6 host must be bracketed")
	}
	if strings.HasPrefix(hostport, "[") && !isIP(host) {
		return a, malformed("relay address: bad IPv6 host")
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 || port[0] == '0' {
		return a, malformed("relay address: port must be 1-65535")
	}
	for _, c := range host {
		if !(c == '.' || c == '-' || c == ':' || c == '_' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')) {
			return a, malformed("relay address: bad character in host")
		}
	}
	a.Host, a.Port = canonicalHost(host), uint16(p)
	if a.Fingerprint, err = ParseFingerprint(frag); err != nil {
		return Address{}, err
	}
	return a, nil
}

// joinHostPort is net.JoinHostPort: an IPv6 host goes in brackets.
func joinHostPort(host string, port uint16) string {
	p := strconv.Itoa(int(port))
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + p
	}
	return host + ":" + p
}

// splitHostPort splits "host:port" or "[host]:port" as net.SplitHostPort
// does: an unbracketed host has no colon, and brackets appear only around
// the host.
func splitHostPort(hostport string) (host, port string, ok bool) {
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 {
		return "", "", false
	}
	rest := hostport
	if hostport[0] == '[' {
		end := strings.IndexByte(hostport, ']')
		if end < 0 || end+1 != i {
			return "", "", false
		}
		host, rest = hostport[1:end], hostport[end+1:]
	} else {
		host = hostport[:i]
		if strings.IndexByte(host, ':') >= 0 {
			return "", "", false
		}
	}
	if strings.ContainsAny(rest, "[]") {
		return "", "", false
	}
	return host, hostport[i+1:], true
}

// isIP reports whether s is an IPv4 or IPv6 address without a zone.
func isIP(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == ""
}
