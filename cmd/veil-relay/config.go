package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"veil/relay"
	"veil/relay/store/badger"
	"veil/relay/store/jetstream"
)

// options are veil-relay's settings. Each is a flag; the same name works
// in the config file ("name = value" lines, # comments) and as the
// environment variable VEIL_RELAY_<NAME> (upper case, "-" as "_").
// Precedence: flag, then environment, then config file, then default.
type options struct {
	Listen       string
	Data         string
	Config       string
	Store        string
	PublicHost   string
	TLSCert      string
	TLSKey       string
	ACMEDomain   string
	ACMEEmail    string
	Metrics      string
	Pprof        string
	PasswordFile string
	Forward      string
	FwdPrivate   bool
	LogLevel     string
	NATS         string
	NATSReplicas int
	NATSShards   int
	MemtableMiB  int

	MessageTTL  time.Duration
	MailboxIdle time.Duration
	MaxBlobLife time.Duration
	MaxLogTTL   time.Duration
	MaxPending  int
	MaxSubs     int
	MaxLogSubs  int
	Rate        float64
	Burst       int
	MaxStorage  int64
	ChunkLife   time.Duration
	ChunkStore  int64
	ChunkRate   float64
	Drain       time.Duration

	// Abuse limits (spec/relay.md §11); -1 is no limit.
	ConnMailboxes, ConnLogs, ConnBlobs int
	ConnBytes                          int64
	AddrMailboxes, AddrLogs, AddrBlobs int
	AddrBytes                          int64
	QuotaPeriod                        time.Duration
	CreateRate, AddrCreateRate         float64
	CreateBurst, AddrCreateBurst       int
	MaxConnsPerAddr                    int
	NoAbuseLimits                      bool
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "veil-relay")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "veil-relay")
	}
	return "veil-relay-data"
}

func newFlagSet(o *options) *flag.FlagSet {
	d := relay.DefaultLimits
	fs := flag.NewFlagSet("veil-relay serve", flag.ContinueOnError)
	fs.StringVar(&o.Listen, "listen", "127.0.0.1:7070", "`HOST:PORT` to serve on")
	fs.StringVar(&o.Data, "data", defaultDataDir(), "data `DIR` (identity key, store)")
	fs.StringVar(&o.Config, "config", "", "config `FILE` with name = value lines")
	fs.StringVar(&o.Store, "store", "badger", "store: badger (durable), jetstream (several relay nodes, with --nats) or memory (tests, bare ceiling)")
	fs.StringVar(&o.NATS, "nats", "", "NATS `URL[,URL…]` of the JetStream cluster for --store jetstream (credentials in the URL: prefer VEIL_RELAY_NATS)")
	fs.IntVar(&o.NATSReplicas, "nats-replicas", 3, "replicas of every JetStream stream: 3 for a three-node cluster, 1 for one server")
	fs.IntVar(&o.NATSShards, "nats-shards", jetstream.DefaultShards, "message streams a new JetStream deployment spreads its mailboxes over (a cluster that has some keeps its count)")
	fs.IntVar(&o.MemtableMiB, "memtable-mib", badger.DefaultMemTableSize>>20, "Badger memtable size in MiB (at least 8; up to three are held in memory): larger absorbs bursts, smaller keeps a small host's memory low")
	fs.StringVar(&o.PublicHost, "public-host", "", "host name to print in the relay address (default: the listen host)")
	fs.StringVar(&o.TLSCert, "tls-cert", "", "TLS certificate `FILE` (PEM); with --tls-key")
	fs.StringVar(&o.TLSKey, "tls-key", "", "TLS key `FILE` (PEM)")
	fs.StringVar(&o.ACMEDomain, "acme-domain", "", "obtain certificates for `DOMAIN` automatically (ACME, TLS-ALPN-01 on the listen port)")
	fs.StringVar(&o.ACMEEmail, "acme-email", "", "contact address given to the ACME CA")
	fs.StringVar(&o.Metrics, "metrics", "", "`HOST:PORT` for Prometheus /metrics (off when empty)")
	fs.StringVar(&o.Pprof, "pprof", "", "loopback `HOST:PORT` for Go's /debug/pprof profiles (off when empty; for measuring the relay, never for production)")
	fs.StringVar(&o.PasswordFile, "password-file", "", "`FILE` holding the password NEW and LNEW require (off when empty)")
	fs.StringVar(&o.Forward, "forward", "auto", "who may use this relay as a forwarder for private routing: open, password (clients send the --password-file password), off, or auto (password when there is one, else open)")
	fs.BoolVar(&o.FwdPrivate, "forward-private", false, "also forward to destinations that are not public addresses (loopback, private, link-local, CGNAT): only for a relay on a private network whose destinations are there too")
	fs.StringVar(&o.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&o.MessageTTL, "message-ttl", d.MessageTTL, "lifetime of an unread message")
	fs.DurationVar(&o.MailboxIdle, "mailbox-idle", d.MailboxIdle, "delete mailboxes idle this long")
	fs.DurationVar(&o.MaxBlobLife, "max-blob-life", d.MaxBlobLife, "longest one-time blob lifetime")
	fs.DurationVar(&o.MaxLogTTL, "max-log-ttl", d.MaxLogTTL, "longest group-log TTL")
	fs.IntVar(&o.MaxPending, "max-pending", d.MaxPending, "messages waiting per mailbox")
	fs.IntVar(&o.MaxSubs, "max-subs", d.MaxSubs, "subscriptions per connection")
	fs.IntVar(&o.MaxLogSubs, "max-log-subs", d.MaxLogSubs, "log subscriptions per connection")
	fs.Float64Var(&o.Rate, "rate", d.Rate, "commands per second per connection")
	fs.IntVar(&o.Burst, "burst", d.Burst, "rate-limit burst per connection")
	fs.Int64Var(&o.MaxStorage, "max-storage", d.MaxStorage, "storage quota in bytes")
	fs.DurationVar(&o.ChunkLife, "max-chunk-life", d.MaxChunkLife, "longest file-chunk lifetime")
	fs.Int64Var(&o.ChunkStore, "chunk-storage", 0, "bytes of file chunks the relay keeps, within --max-storage (0: half of --max-storage)")
	fs.Float64Var(&o.ChunkRate, "chunk-rate", d.ChunkRate, "file-chunk commands per second per connection (a limit of their own, burst as many)")
	fs.DurationVar(&o.Drain, "drain", d.DrainTimeout, "how long SIGTERM waits for commands in progress")
	fs.IntVar(&o.MaxConnsPerAddr, "max-conns-per-addr", d.MaxConnsPerAddr, "connections per source address (IPv4 address or IPv6 /64; -1: no limit; raise it behind a proxy)")
	fs.IntVar(&o.ConnMailboxes, "conn-mailboxes", d.ConnMailboxes, "NEWs per connection per --quota-period (-1: no limit)")
	fs.IntVar(&o.ConnLogs, "conn-logs", d.ConnLogs, "LNEWs per connection per --quota-period (-1: no limit)")
	fs.IntVar(&o.ConnBlobs, "conn-blobs", d.ConnBlobs, "PUTs per connection per --quota-period (-1: no limit)")
	fs.Int64Var(&o.ConnBytes, "conn-bytes", 0, "bytes of SEND, PUT and LAPPEND bodies per connection per --quota-period (0: --max-storage/40; -1: no limit)")
	fs.IntVar(&o.AddrMailboxes, "addr-mailboxes", d.AddrMailboxes, "NEWs per source address per --quota-period (-1: no limit)")
	fs.IntVar(&o.AddrLogs, "addr-logs", d.AddrLogs, "LNEWs per source address per --quota-period (-1: no limit)")
	fs.IntVar(&o.AddrBlobs, "addr-blobs", d.AddrBlobs, "PUTs per source address per --quota-period (-1: no limit)")
	fs.Int64Var(&o.AddrBytes, "addr-bytes", 0, "bytes of SEND, PUT and LAPPEND bodies per source address per --quota-period (0: --max-storage/5; -1: no limit)")
	fs.DurationVar(&o.QuotaPeriod, "quota-period", d.QuotaPeriod, "how long a full storage budget takes to drain")
	fs.Float64Var(&o.CreateRate, "create-rate", d.CreateRate, "NEW, LNEW and PUT per second per connection (-1: no limit)")
	fs.IntVar(&o.CreateBurst, "create-burst", d.CreateBurst, "burst of --create-rate")
	fs.Float64Var(&o.AddrCreateRate, "addr-create-rate", d.AddrCreateRate, "NEW, LNEW and PUT per second per source address (-1: no limit)")
	fs.IntVar(&o.AddrCreateBurst, "addr-create-burst", d.AddrCreateBurst, "burst of --addr-create-rate")
	fs.BoolVar(&o.NoAbuseLimits, "no-abuse-limits", false, "turn off every per-connection and per-address abuse limit above (load tests from one machine)")
	return fs
}

// parseOptions applies defaults, the config file, the environment and
// the flags, in that order of increasing precedence.
func parseOptions(args []string, getenv func(string) string) (*options, error) {
	o := &options{}
	fs := newFlagSet(o)
	fs.SetOutput(new(strings.Builder))
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	cfgFile := o.Config
	if !set["config"] {
		cfgFile = getenv("VEIL_RELAY_CONFIG")
	}
	if cfgFile != "" {
		kv, err := readConfigFile(cfgFile)
		if err != nil {
			return nil, err
		}
		for name, v := range kv {
			if set[name] || getenv(envName(name)) != "" {
				continue
			}
			if fs.Lookup(name) == nil || name == "config" {
				return nil, fmt.Errorf("config file %s: unknown setting %q", cfgFile, name)
			}
			if err := fs.Set(name, v); err != nil {
				return nil, fmt.Errorf("config file %s: %s: %v", cfgFile, name, err)
			}
		}
	}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %v", envName(f.Name), e)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return o, o.check()
}

func envName(flagName string) string {
	return "VEIL_RELAY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func readConfigFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("config file %s:%d: want name = value", path, n)
		}
		kv[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	return kv, sc.Err()
}

func (o *options) check() error {
	if _, err := relay.ParseForwardMode(o.Forward); err != nil {
		return fmt.Errorf("--forward: %w", err)
	}
	if o.Forward == "password" && o.PasswordFile == "" {
		return errors.New("--forward password needs --password-file")
	}
	if o.Store != "badger" && o.Store != "memory" && o.Store != "jetstream" {
		return fmt.Errorf("--store must be badger, jetstream or memory, not %q", o.Store)
	}
	if (o.Store == "jetstream") != (o.NATS != "") {
		return errors.New("--nats goes with --store jetstream, and --store jetstream needs --nats")
	}
	if o.NATSShards < 1 || o.NATSShards > jetstream.MaxShards {
		return fmt.Errorf("--nats-shards must be 1..%d", jetstream.MaxShards)
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if o.TLSCert != "" && o.ACMEDomain != "" {
		return errors.New("use either --tls-cert/--tls-key or --acme-domain, not both")
	}
	if o.Data == "" {
		return errors.New("--data must not be empty")
	}
	if o.Pprof != "" {
		h, _, err := net.SplitHostPort(o.Pprof)
		if ip, perr := netip.ParseAddr(h); err != nil || perr != nil || !ip.IsLoopback() {
			return fmt.Errorf("--pprof must be a loopback HOST:PORT such as 127.0.0.1:6060, not %q", o.Pprof)
		}
	}
	if o.MemtableMiB < 8 || o.MemtableMiB > 1024 {
		return fmt.Errorf("--memtable-mib must be between 8 and 1024, not %d", o.MemtableMiB)
	}
	return nil
}

// chunkStorage is the chunk quota the relay uses: --chunk-storage, half
// of --max-storage when zero, never more than --max-storage; zero when
// --max-storage is not positive (the relay's default quota applies).
func (o *options) chunkStorage() int64 {
	if o.MaxStorage <= 0 {
		return 0
	}
	n := o.ChunkStore
	if n <= 0 {
		n = o.MaxStorage / 2
	}
	return min(n, o.MaxStorage)
}

func (o *options) limits() relay.Limits {
	l := relay.DefaultLimits
	l.MessageTTL, l.MailboxIdle, l.MaxBlobLife, l.MaxLogTTL = o.MessageTTL, o.MailboxIdle, o.MaxBlobLife, o.MaxLogTTL
	l.MaxPending, l.MaxSubs, l.Rate, l.Burst, l.MaxStorage, l.DrainTimeout = o.MaxPending, o.MaxSubs, o.Rate, o.Burst, o.MaxStorage, o.Drain
	l.MaxLogSubs = o.MaxLogSubs
	l.MaxChunkLife, l.ChunkStorage, l.ChunkRate = o.ChunkLife, o.ChunkStore, o.ChunkRate
	l.ConnMailboxes, l.ConnLogs, l.ConnBlobs, l.ConnBytes = o.ConnMailboxes, o.ConnLogs, o.ConnBlobs, o.ConnBytes
	l.AddrMailboxes, l.AddrLogs, l.AddrBlobs, l.AddrBytes = o.AddrMailboxes, o.AddrLogs, o.AddrBlobs, o.AddrBytes
	l.QuotaPeriod, l.MaxConnsPerAddr = o.QuotaPeriod, o.MaxConnsPerAddr
	l.CreateRate, l.CreateBurst, l.AddrCreateRate, l.AddrCreateBurst = o.CreateRate, o.CreateBurst, o.AddrCreateRate, o.AddrCreateBurst
	if o.NoAbuseLimits {
		l = relay.NoAbuseLimits(l)
	}
	return l
}
