package jetstream

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"veil/relay/store"
	"veil/relay/store/jetstream/jstest"
	"veil/relay/store/storetest"
)

// TestContribConfigs checks that the example NATS configurations in
// contrib/jetstream parse and describe a three-node JetStream cluster.
func TestContribConfigs(t *testing.T) {
	t.Setenv("VEIL_RELAY_NATS_PASSWORD", "example-password")
	t.Setenv("NATS_JETSTREAM_KEY", "example-key")
	files, err := filepath.Glob("../../../contrib/jetstream/nats-*.conf")
	if err != nil || len(files) != 3 {
		t.Fatalf("want 3 NATS configurations, got %v, %v", files, err)
	}
	var perms *server.Permissions
	for _, f := range files {
		// The certificates are the operator's; parse the rest.
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(t.TempDir(), filepath.Base(f))
		if err := os.WriteFile(tmp, withoutTLS(b), 0o600); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("tls {")) {
			t.Errorf("%s: no TLS block", f)
		}
		opts, err := server.ProcessConfigFile(tmp)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !opts.JetStream || opts.Cluster.Name != "veil" || len(opts.Routes) != 2 {
			t.Errorf("%s: jetstream %v, cluster %q, %d routes", f, opts.JetStream, opts.Cluster.Name, len(opts.Routes))
		}
		if len(opts.Users) != 1 || opts.Users[0].Permissions == nil {
			t.Errorf("%s: want one relay user with permissions", f)
			continue
		}
		// TestContribPermissions tries the first file's: the others must
		// grant the same.
		if p := opts.Users[0].Permissions; perms == nil {
			perms = p
		} else if !reflect.DeepEqual(p, perms) {
			t.Errorf("%s: the relay user's permissions differ from %s's", f, filepath.Base(files[0]))
		}
	}
}

// withoutTLS removes every "tls { ... }" block from a configuration.
func withoutTLS(b []byte) []byte {
	var out []byte
	depth := 0
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		trimmed := bytes.TrimSpace(line)
		switch {
		case depth == 0 && bytes.Equal(trimmed, []byte("tls {")):
			depth = 1
		case depth > 0:
			depth += bytes.Count(trimmed, []byte("{")) - bytes.Count(trimmed, []byte("}"))
		default:
			out = append(out, line...)
		}
	}
	return out
}

// TestContribPermissions runs the store suite as the relay user of the
// example configurations, with exactly the permissions they grant, on a
// server of their own: a subject the store uses and the configuration
// forgets is refused by the server, and the suite fails.
func TestContribPermissions(t *testing.T) {
	const password = "example-password"
	t.Setenv("VEIL_RELAY_NATS_PASSWORD", password)
	t.Setenv("NATS_JETSTREAM_KEY", "example-key")
	b, err := os.ReadFile("../../../contrib/jetstream/nats-1.conf")
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "nats-1.conf")
	if err := os.WriteFile(tmp, withoutTLS(b), 0o600); err != nil {
		t.Fatal(err)
	}
	conf, err := server.ProcessConfigFile(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if len(conf.Users) != 1 {
		t.Fatalf("want one relay user, got %d", len(conf.Users))
	}
	user := conf.Users[0]
	storetest.Run(t, func(t *testing.T) store.Store {
		// The configuration grants the default prefix only, so each test
		// gets a server of its own.
		c := jstest.StartWith(t, 1, func(o *server.Options) { o.Users = []*server.User{user} })
		nc, err := nats.Connect(c.URL(), nats.UserInfo(user.Username, password),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
				t.Errorf("NATS: %v", err) // a permissions violation arrives here
			}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		s, err := Open(context.Background(), Config{Conn: nc, Replicas: 1, Memory: true})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}
