package daemon

import (
	"testing"

	"veil/client"
	"veil/relay/relaytest"
)

// TestSearchInvitesVerifyMethods drives the methods of methods_search.go
// through the API: search across chats, the verified mark in chats, and an
// open invite listed, shown again and cancelled.
func TestSearchInvitesVerifyMethods(t *testing.T) {
	r := relaytest.Start(t)
	ana, ben := newPeer(t, r.Address.String()), newPeer(t, r.Address.String())
	anaChat, benChat, sub, _ := pairPeers(t, ana, ben)
	must(t, ben.c, "send", map[string]string{"chat": benChat, "text": "the Needle is in the hay"}, nil)
	for {
		if e := nextEvent(t, sub); e.Event.Type == client.EventMessage && e.Event.Chat == anaChat {
			break
		}
	}
	var hits []client.SearchHit
	must(t, ana.c, "search", map[string]any{"text": "needle"}, &hits)
	if len(hits) != 1 || hits[0].Chat != anaChat || hits[0].ChatName != "ben" || hits[0].Snippet != "the Needle is in the hay" {
		t.Fatalf("hits: %+v", hits)
	}
	must(t, ana.c, "search", map[string]any{"text": "hay", "chat": "ben", "limit": 5}, &hits)
	if len(hits) != 1 {
		t.Fatalf("hits in ben: %+v", hits)
	}
	wantCode(t, do(t, ana.c, "search", map[string]any{"text": ""}, nil), -32602, "")
	wantCode(t, do(t, ana.c, "search", map[string]any{"text": "x", "limit": 5000}, nil), -32602, "")

	must(t, ana.c, "verify.mark", map[string]any{"chat": anaChat, "on": true}, nil)
	var c client.ChatInfo
	must(t, ana.c, "chat", map[string]string{"chat": anaChat}, &c)
	if !c.Verified || c.VerifyLost {
		t.Fatalf("after verify.mark: %+v", c)
	}
	wantCode(t, do(t, ana.c, "verify.mark", map[string]any{"chat": anaChat}, nil), -32602, "")
	must(t, ana.c, "verify.mark", map[string]any{"chat": anaChat, "on": false}, nil)
	c = client.ChatInfo{}
	must(t, ana.c, "chat", map[string]string{"chat": anaChat}, &c)
	if c.Verified {
		t.Fatalf("after unmark: %+v", c)
	}

	var inv InviteResult
	must(t, ana.c, "invite", map[string]string{"name": "later"}, &inv)
	var invs []client.InviteInfo
	must(t, ana.c, "invites", nil, &invs)
	if len(invs) != 1 || invs[0].Chat != inv.Chat || !invs[0].HasKey {
		t.Fatalf("invites: %+v", invs)
	}
	var k KeyResult
	must(t, ana.c, "invite.show", map[string]string{"chat": "later"}, &k)
	if k.Key != inv.Key {
		t.Fatal("invite.show gave another key")
	}
	if err := do(t, ana.c, "invite.show", map[string]string{"chat": anaChat}, nil); err == nil {
		t.Fatal("invite.show of a joined chat")
	}
	var res client.CancelInviteResult
	must(t, ana.c, "invite.cancel", map[string]string{"chat": inv.Chat}, &res)
	if res.BlobLeft {
		t.Fatal("the blob was left on a reachable relay")
	}
	must(t, ana.c, "invites", nil, &invs)
	if len(invs) != 0 {
		t.Fatalf("invites after cancel: %+v", invs)
	}
	if err := do(t, ben.c, "join", map[string]string{"key": inv.Key}, nil); err == nil {
		t.Fatal("joined a cancelled invite")
	}
}
