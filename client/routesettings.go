package client

import (
	"context"
	"strings"

	"veil/relay/wire"
	"veil/vault"
)

// RoutingInfo is the private routing setting as the settings screens show
// it (spec/client.md §7.7).
type RoutingInfo struct {
	// Mode is RoutingAuto, RoutingAlways or RoutingOff.
	Mode string `json:"mode"`
	// Forwarder is the forwarding relay: the one set, or the default
	// relay when none is (Chosen false).
	Forwarder string `json:"forwarder,omitempty"`
	Chosen    bool   `json:"chosen,omitempty"`
	// Note says what the setting does not do, "" when it works as named:
	// a forwarder only this machine or network can reach hides nothing.
	Note string `json:"note,omitempty"`
}

// Routing returns the private routing setting.
func (e *Engine) Routing(ctx context.Context) (RoutingInfo, error) {
	var ri RoutingInfo
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		p, err := profile(tx)
		if err != nil {
			return err
		}
		ri.Mode, ri.Forwarder, _ = routingSettings(p)
		ri.Chosen = p.Settings[settingForwarder] != ""
		return nil
	})
	ri.Note = routingNote(ri.Mode, ri.Forwarder)
	return ri, err
}

func routingNote(mode, fwd string) string {
	switch {
	case mode == RoutingOff:
		return "off: every relay sees this device's address when it writes there"
	case fwd == "":
		return "no forwarding relay: add a relay first"
	case RelayReach(fwd) != ReachAnyone && mode == RoutingAuto:
		return "no reachable forwarding relay: " + shortRelay(fwd) + " can be reached from " + RelayReach(fwd) +
			" only and would show contacts' relays this device's address anyway, so messages go directly; choose a public relay as the forwarder"
	case RelayReach(fwd) != ReachAnyone:
		return "the forwarding relay " + shortRelay(fwd) + " can be reached from " + RelayReach(fwd) +
			" only: contacts' relays see its address, which is this device's or its network's; choose a public relay as the forwarder"
	}
	return ""
}

// SetRouting stores the private routing mode ("" or RoutingAuto for the
// default). It applies to the next item sent.
func (e *Engine) SetRouting(ctx context.Context, mode string) error {
	mode = strings.TrimSpace(mode)
	switch mode {
	case "", RoutingAuto, RoutingAlways, RoutingOff:
	default:
		return badInput("private routing %q: auto, always or off", mode)
	}
	if mode == RoutingAuto {
		mode = "" // the default is not stored
	}
	return e.setProfileSetting(ctx, settingPrivateRouting, mode)
}

// SetForwarder makes addr the forwarding relay ("" for the default
// relay). It need not be in the relay list.
func (e *Engine) SetForwarder(ctx context.Context, addr string) error {
	addr = strings.TrimSpace(addr)
	if addr != "" {
		a, err := wire.ParseAddress(addr)
		if err != nil {
			return badAddress(err)
		}
		addr = a.String()
	}
	return e.setProfileSetting(ctx, settingForwarder, addr)
}

func (e *Engine) setProfileSetting(ctx context.Context, k, v string) error {
	return e.v.Update(ctx, func(tx *vault.Tx) error {
		p, err := profile(tx)
		if err != nil {
			return err
		}
		if v == "" {
			delete(p.Settings, k)
		} else {
			p.Settings[k] = v
		}
		return tx.PutProfile(&p)
	})
}
