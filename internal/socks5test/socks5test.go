// Package socks5test is a minimal SOCKS5 server for tests (RFC 1928:
// CONNECT, no authentication or RFC 1929 user name and password, any
// accepted) on 127.0.0.1. It records the target and credential of every
// CONNECT and either refuses it or forwards the connection to one
// fixed address, so tests can check that veil reaches relays only
// through the proxy it was given, by the names it was given.
package socks5test

import (
	"encoding/binary"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Server is a running test proxy; it stops when the test ends.
type Server struct {
	// Addr is the proxy's HOST:PORT.
	Addr string

	forward string
	ln      net.Listener
	wg      sync.WaitGroup
	mu      sync.Mutex
	targets []string
	auths   []string
}

// Start runs a proxy that forwards every CONNECT to forward (HOST:PORT),
// or refuses it when forward is "".
func Start(t testing.TB, forward string) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), forward: forward, ln: ln}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.serve(c) })
		}
	})
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

// Targets returns the HOST:PORT of every CONNECT so far, in order.
func (s *Server) Targets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.targets...)
}

// Auths returns the credential ("user:password", "" without one) of
// every CONNECT so far, in the order of Targets.
func (s *Server) Auths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auths...)
}

// Hosts returns the host part of every CONNECT so far, in order.
func (s *Server) Hosts() []string {
	var hs []string
	for _, t := range s.Targets() {
		h, _, _ := net.SplitHostPort(t)
		hs = append(hs, h)
	}
	return hs
}

var (
	refused   = []byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0}
	succeeded = []byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0}
)

// serve reads the greeting and one request, records the target, then
// refuses or forwards.
func (s *Server) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	var h [2]byte
	if _, err := io.ReadFull(c, h[:]); err != nil || h[0] != 5 {
		return
	}
	methods := make([]byte, h[1])
	if _, err := io.ReadFull(c, methods); err != nil {
		return
	}
	var auth string
	if slices.Contains(methods, 2) { // user name and password, RFC 1929
		c.Write([]byte{5, 2})
		var err error
		if auth, err = readAuth(c); err != nil {
			return
		}
		c.Write([]byte{1, 0})
	} else {
		c.Write([]byte{5, 0}) // no authentication
	}
	var req [4]byte
	if _, err := io.ReadFull(c, req[:]); err != nil || req[1] != 1 {
		return
	}
	var host string
	switch req[3] {
	case 1, 4: // IPv4, IPv6
		b := make([]byte, net.IPv4len)
		if req[3] == 4 {
			b = make([]byte, net.IPv6len)
		}
		if _, err := io.ReadFull(c, b); err != nil {
			return
		}
		host = net.IP(b).String()
	case 3:
		var n [1]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		b := make([]byte, n[0])
		if _, err := io.ReadFull(c, b); err != nil {
			return
		}
		host = string(b)
	default:
		return
	}
	var p [2]byte
	if _, err := io.ReadFull(c, p[:]); err != nil {
		return
	}
	s.mu.Lock()
	s.targets = append(s.targets, net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(p[:])))))
	s.auths = append(s.auths, auth)
	s.mu.Unlock()
	if s.forward == "" {
		c.Write(refused)
		return
	}
	up, err := net.Dial("tcp", s.forward)
	if err != nil {
		c.Write(refused)
		return
	}
	defer up.Close()
	c.Write(succeeded)
	c.SetDeadline(time.Time{})
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	<-done
}

// readAuth reads an RFC 1929 request and returns "user:password".
func readAuth(c net.Conn) (string, error) {
	var v [1]byte
	if _, err := io.ReadFull(c, v[:]); err != nil {
		return "", err
	}
	field := func() (string, error) {
		var n [1]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return "", err
		}
		b := make([]byte, n[0])
		_, err := io.ReadFull(c, b)
		return string(b), err
	}
	u, err := field()
	if err != nil {
		return "", err
	}
	pw, err := field()
	return u + ":" + pw, err
}
