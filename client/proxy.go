package client

import (
	"context"
	"net"
	"strconv"
	"strings"

	"veil/vault"
)

// settingSOCKS5 holds the SOCKS5 proxy chosen in the profile (HOST:PORT),
// used when Config.SOCKS5 is empty. Like every setting it lives in the
// encrypted vault, never in a plaintext file.
const settingSOCKS5 = "net/socks5"

// CheckSOCKS5 reports whether addr is a SOCKS5 proxy address the engine
// accepts: HOST:PORT with a port from 1 to 65535 ("" means direct and is
// accepted too). It does no I/O.
func CheckSOCKS5(addr string) error {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return badInput("socks5 proxy %q: not HOST:PORT (Tor: 127.0.0.1:9050)", addr)
	}
	if host == "" || strings.ContainsAny(host, " \t/") {
		return badInput("socks5 proxy %q: no host (Tor: 127.0.0.1:9050)", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return badInput("socks5 proxy %q: the port must be a number from 1 to 65535", addr)
	}
	return nil
}

// storedSOCKS5 reads the profile's proxy setting ("" when unset).
func storedSOCKS5(ctx context.Context, v *vault.Vault) (string, error) {
	var addr string
	err := v.View(ctx, func(tx *vault.Tx) error {
		p, err := profile(tx)
		addr = p.Settings[settingSOCKS5]
		return err
	})
	return addr, err
}

// SOCKS5 returns the proxy the engine reaches relays through now ("" for
// direct connections), and whether Config.SOCKS5 chose it: then the
// stored setting is not used (a command-line flag wins).
func (e *Engine) SOCKS5() (addr string, fixed bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.socks5, e.cfg.SOCKS5 != ""
}

// SOCKS5Setting returns the proxy stored in the profile ("" when unset).
func (e *Engine) SOCKS5Setting(ctx context.Context) (string, error) {
	return storedSOCKS5(ctx, e.v)
}

// SetSOCKS5 stores the SOCKS5 proxy HOST:PORT in the profile ("" for
// direct connections); CheckSOCKS5 says what is accepted. Unless
// Config.SOCKS5 was given, it applies at once: open relay connections are
// closed and reconnect through the new proxy.
func (e *Engine) SetSOCKS5(ctx context.Context, addr string) error {
	addr = strings.TrimSpace(addr)
	if err := CheckSOCKS5(addr); err != nil {
		return err
	}
	e.proxyMu.Lock()
	defer e.proxyMu.Unlock()
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		p, err := profile(tx)
		if err != nil {
			return err
		}
		if addr == "" {
			delete(p.Settings, settingSOCKS5)
		} else {
			p.Settings[settingSOCKS5] = addr
		}
		return tx.PutProfile(&p)
	})
	if err != nil || e.cfg.SOCKS5 != "" {
		return err
	}
	e.mu.Lock()
	e.socks5 = addr
	e.mu.Unlock()
	return e.pool.setProxy(addr)
}
