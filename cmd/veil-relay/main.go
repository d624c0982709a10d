// Command veil-relay runs veil's blind relay (spec/relay.md).
//
//	veil-relay [serve] [--listen HOST:PORT] [--data DIR] [--config FILE] [--store badger|jetstream|memory] [--nats URL,…] ...
//	veil-relay address [--data DIR] [--listen HOST:PORT] [--public-host HOST]
//	veil-relay init [--data DIR] [--listen HOST:PORT] [--public-host HOST]
//
// With no arguments it serves on 127.0.0.1:7070 with its data under
// $XDG_DATA_HOME/veil-relay (or ~/.local/share/veil-relay) and prints the
// relay address, with the fingerprint clients check, to standard output.
// `veil-relay serve --help` lists every setting.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/crypto/acme/autocert"

	"veil/relay"
	"veil/relay/store"
	"veil/relay/store/badger"
	"veil/relay/store/jetstream"
	"veil/relay/store/memory"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(exitCode(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil), os.Stderr))
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// exitCode prints err and maps it to the exit status: 0 success or help
// asked for, 1 failure, 2 usage error.
func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "veil-relay:", err)
		return 2
	}
	fmt.Fprintln(stderr, "veil-relay:", err)
	return 1
}

// run is main without the process: ready, when not nil, receives the
// relay address once the relay accepts connections (tests).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready chan<- string) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	if cmd == "help" || len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		// Help that was asked for goes to stdout, so it can be paged.
		fs := newFlagSet(&options{})
		fs.SetOutput(stdout)
		fmt.Fprintln(stdout, `usage: veil-relay [serve|address] [flags]

  serve     run the relay (the default); makes an identity in --data on first start
  address   print the address clients use to reach the relay in --data (never makes one)
  init      make an identity in --data without serving, and print its address

Every flag can also be set as VEIL_RELAY_<NAME> or as name = value in --config.
Exit status: 0 success, 1 failure, 2 usage error.

Flags:`)
		fs.PrintDefaults()
		return flag.ErrHelp
	}
	o, err := parseOptions(args, getenv)
	if err != nil {
		return usageError{fmt.Errorf("%v (try veil-relay --help)", err)}
	}
	switch cmd {
	case "serve":
		return serve(ctx, o, stdout, stderr, ready)
	case "address", "init":
		// address: the address of the relay that runs (or ran) on --data,
		// never a new identity, which would print a fingerprint of no
		// relay. init: a new identity in --data (several relay nodes that
		// share one), refused where one exists.
		id, err := relay.LoadIdentity(o.Data)
		switch {
		case cmd == "init" && err == nil:
			return fmt.Errorf("%s already holds a relay identity (veil-relay address prints its address)", o.Data)
		case cmd == "init" && errors.Is(err, relay.ErrNoIdentity):
			id, err = relay.LoadOrCreateIdentity(o.Data)
		}
		if err != nil {
			return err
		}
		srv, err := relay.New(relay.Config{Store: memory.New(memory.Config{}), Identity: id})
		if err != nil {
			return err
		}
		host, port, err := publicHostPort(o, o.Listen)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, srv.Address(host, port, o.tls()))
		return nil
	default:
		return usageError{fmt.Errorf("unknown command %q (want serve, address or init; veil-relay --help)", cmd)}
	}
}

func (o *options) tls() bool { return o.TLSCert != "" || o.ACMEDomain != "" }

func publicHostPort(o *options, listen string) (string, uint16, error) {
	host, ps, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("--listen: %v", err)
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("--listen: bad port %q", ps)
	}
	switch {
	case o.PublicHost != "":
		host = o.PublicHost
	case o.ACMEDomain != "":
		host = o.ACMEDomain
	case host == "" || host == "0.0.0.0" || host == "::":
		host = "127.0.0.1"
	}
	return host, uint16(p), nil
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %v", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func serve(ctx context.Context, o *options, stdout, stderr io.Writer, ready chan<- string) error {
	log, err := newLogger(stderr, o.LogLevel)
	if err != nil {
		return err
	}
	id, err := relay.LoadOrCreateIdentity(o.Data)
	if err != nil {
		return err
	}
	var password []byte
	if o.PasswordFile != "" {
		b, err := os.ReadFile(o.PasswordFile)
		if err != nil {
			return fmt.Errorf("--password-file: %w", err)
		}
		password = []byte(strings.TrimRight(string(b), "\r\n"))
		if len(password) == 0 || len(password) > 255 {
			return errors.New("--password-file: the password must be 1-255 bytes")
		}
	}
	fwd, err := relay.ParseForwardMode(o.Forward) // checked by parseOptions
	if err != nil {
		return err
	}
	var st store.Store
	switch o.Store {
	case "memory":
		st = memory.New(memory.Config{MaxBytes: o.MaxStorage})
		log.Warn("relay: memory store: messages are lost when the relay stops")
	case "jetstream":
		st, err = jetstream.Open(ctx, jetstream.Config{
			URLs:       strings.Split(o.NATS, ","),
			Replicas:   o.NATSReplicas,
			Shards:     o.NATSShards,
			MaxPending: o.MaxPending,
			MaxBytes:   o.MaxStorage,
			// The chunk stream enforces the chunk quota (spec/relay-jetstream.md §6.3).
			ChunkStorage: o.chunkStorage(),
			// One node per expiry interval scans the cluster.
			ExpireLease: max(o.limits().ExpireEvery*9/10, time.Second),
			Logger:      log,
		})
		if err != nil {
			return err
		}
	default:
		st, err = badger.Open(badger.Config{Dir: filepath.Join(o.Data, "store"), MaxBytes: o.MaxStorage, Logger: log, MemTableSize: int64(o.MemtableMiB) << 20})
		if err != nil {
			return err
		}
	}
	defer st.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := relay.New(relay.Config{Store: st, Identity: id, Password: password, Forward: fwd, ForwardPrivate: o.FwdPrivate, Limits: o.limits(), Logger: log, Registerer: reg})
	if err != nil {
		return err
	}

	var tlsConfig *tls.Config
	switch {
	case o.TLSCert != "":
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	case o.ACMEDomain != "":
		m := &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			Cache:      autocert.DirCache(filepath.Join(o.Data, "acme")),
			HostPolicy: autocert.HostWhitelist(o.ACMEDomain),
			Email:      o.ACMEEmail,
		}
		tlsConfig = m.TLSConfig()
		tlsConfig.MinVersion = tls.VersionTLS12
	}

	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return err
	}
	host, port, err := publicHostPort(o, ln.Addr().String())
	if err != nil {
		ln.Close()
		return err
	}
	if o.PublicHost == "" && o.ACMEDomain == "" {
		if h, _, _ := net.SplitHostPort(o.Listen); h != "" && h != "0.0.0.0" && h != "::" {
			host = h
		}
	}

	if o.Metrics != "" {
		mln, err := net.Listen("tcp", o.Metrics)
		if err != nil {
			ln.Close()
			return fmt.Errorf("--metrics: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		ms := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go ms.Serve(mln) // owned by serve; stopped below
		defer ms.Close()
	}

	if o.Pprof != "" {
		pln, err := net.Listen("tcp", o.Pprof)
		if err != nil {
			ln.Close()
			return fmt.Errorf("--pprof: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		ps := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go ps.Serve(pln) // owned by serve; stopped below
		defer ps.Close()
	}

	addr := srv.Address(host, port, tlsConfig != nil).String()
	fmt.Fprintln(stdout, addr)
	log.Info("relay: serving", "store", o.Store, "tls", tlsConfig != nil, "metrics", o.Metrics != "")
	if ready != nil {
		ready <- addr
	}
	return srv.Serve(ctx, ln, tlsConfig)
}
