package jetstream

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
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
