package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"veil/relay/wire"
	"veil/tui"
	"veil/vault"
)

var _ tui.SetupChecker = (*tuiProfile)(nil)

// CheckPIN tells the first-run screen whether pin is long enough, as
// Create and veil init will (tui.SetupChecker).
func (p *tuiProfile) CheckPIN(pin []byte) error {
	if err := vault.CheckPIN(pin); err != nil {
		return fmt.Errorf("too short: a PIN needs at least %d characters (a passphrase is far stronger)", vault.MinPINLen)
	}
	return nil
}

// CheckRelay parses the first-run relay address and opens a TCP connection
// to it, so a typo or a relay that is down is said at once, beside the
// field (tui.SetupChecker). Through a SOCKS5 proxy (--socks5) only the
// address is checked: the relay may be reachable through the proxy alone.
func (p *tuiProfile) CheckRelay(ctx context.Context, addr string) error {
	ca, err := wire.ParseCredentialed(addr)
	a := ca.Address
	if err != nil {
		why := err.Error()
		if i := strings.LastIndex(why, ": "); i >= 0 {
			why = why[i+2:]
		}
		return fmt.Errorf("this is not a relay address (veil://host:port#fingerprint): %s", why)
	}
	if p.g.socks5 != "" {
		return nil
	}
	if h := strings.ToLower(strings.TrimSuffix(a.Host, ".")); h == "onion" || strings.HasSuffix(h, ".onion") {
		// Never looked up in the clear (RFC 7686): only Tor reaches it.
		return errors.New("an onion relay is reached through Tor only: start veil with --socks5 127.0.0.1:9050, or leave the field empty for now")
	}
	hostport := net.JoinHostPort(a.Host, strconv.Itoa(int(a.Port)))
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return fmt.Errorf("the relay at %s cannot be reached (%s): check the address, or leave it empty for a local relay", hostport, dialReason(err))
	}
	c.Close()
	return nil
}

// dialReason says in a few words why a dial failed.
func dialReason(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "no answer in time"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &dnsErr):
		return "no such host"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to it"
	}
	return "the connection failed"
}
