package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const sampleConfig = `# etclient settings; keys are the long flag names
server: 127.0.0.1:7100#2,127.0.0.1:7101
timeout: 2s
user: 5
password: "5"
key: fromfile
output: json
`

// TestConfigPrecedence: defaults < YAML file < ETCLIENT_* environment < flags.
func TestConfigPrecedence(t *testing.T) {
	cfg := writeFile(t, "etclient.yaml", sampleConfig)
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		wantUser  string
		wantKey   string
		wantTO    time.Duration
		wantJSON  bool
		wantAddrs string
	}{
		{name: "defaults", args: []string{"login,read"}, wantUser: "1", wantKey: "a", wantTO: DefaultTimeout, wantAddrs: "127.0.0.1:7000"},
		{name: "file", args: []string{"login,read", "--config", cfg}, wantUser: "5", wantKey: "fromfile", wantTO: 2 * time.Second, wantJSON: true, wantAddrs: "127.0.0.1:7100 127.0.0.1:7101"},
		{name: "file named by the environment", env: map[string]string{"ETCLIENT_CONFIG": cfg}, args: []string{"login,read"},
			wantUser: "5", wantKey: "fromfile", wantTO: 2 * time.Second, wantJSON: true, wantAddrs: "127.0.0.1:7100 127.0.0.1:7101"},
		{name: "environment beats file", env: map[string]string{"ETCLIENT_USER": "6", "ETCLIENT_PASSWORD": "6", "ETCLIENT_OUTPUT": "table", "ETCLIENT_TIMEOUT": "3s"},
			args: []string{"login,read", "--config", cfg}, wantUser: "6", wantKey: "fromfile", wantTO: 3 * time.Second, wantAddrs: "127.0.0.1:7100 127.0.0.1:7101"},
		{name: "flags beat environment", env: map[string]string{"ETCLIENT_USER": "6", "ETCLIENT_PASSWORD": "6", "ETCLIENT_SERVER": "127.0.0.1:7200"},
			args: []string{"login,read", "--config", cfg, "-u", "7", "-p=7", "-k", "fromflag", "--timeout=4s"}, wantUser: "7", wantKey: "fromflag", wantTO: 4 * time.Second, wantJSON: true, wantAddrs: "127.0.0.1:7200"},
		{name: "deployed server list", args: []string{"login,read", "--server", ":9090#1,:9090#1,:9090#1"},
			wantUser: "1", wantKey: "a", wantTO: DefaultTimeout, wantAddrs: "localhost:9090"},
		{name: "flag equal to the default still wins", env: map[string]string{"ETCLIENT_USER": "6", "ETCLIENT_PASSWORD": "6"},
			args: []string{"login,read", "-u", "1", "-p", "1"}, wantUser: "1", wantKey: "a", wantTO: DefaultTimeout, wantAddrs: "127.0.0.1:7000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			h := newHarness(t, 10, nil)
			h.seedValue(t, tt.wantUser, tt.wantKey, "found")
			if code := h.run(tt.args...); code != ExitOK {
				t.Fatalf("exit %d: %s", code, h.stderr.String())
			}
			if got := h.loginUsers(); !slices.Equal(got, []string{tt.wantUser}) {
				t.Fatalf("logged in as %v, want %s", got, tt.wantUser)
			}
			out := h.stdout.String()
			if strings.HasPrefix(out, "{") != tt.wantJSON || !strings.Contains(out, "found") {
				t.Fatalf("output (json=%v):\n%s", tt.wantJSON, out)
			}
			o := h.dialed[0]
			var addrs []string
			for _, ep := range o.Endpoints {
				addrs = append(addrs, ep.Addr)
			}
			if strings.Join(addrs, " ") != tt.wantAddrs || o.DialTimeout != tt.wantTO {
				t.Fatalf("dialed %v with timeout %v, want %s and %v", addrs, o.DialTimeout, tt.wantAddrs, tt.wantTO)
			}
		})
	}
}

// TestConfigBenchmarkSettings: benchmark settings come from the file and the environment
// too, with their types converted.
func TestConfigBenchmarkSettings(t *testing.T) {
	cfg := writeFile(t, "bench.yaml", "concurrency: 3\nrequests: 4\nvalue-size: 64\nvalue: xy\n")
	t.Setenv("ETCLIENT_MAX_FAILURES", "2")
	h := newHarness(t, 1, nil)
	if code := h.run("benchmark", "write", "--config", cfg, "-r", "5"); code != ExitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	if got := h.srv.Calls("WriteSecureMessage"); got != 15 {
		t.Fatalf("%d writes, want 3 workers × 5 requests", got)
	}
	if v, _ := h.srv.Value("1", "a"); v != strings.Repeat("xy", 32) {
		t.Fatalf("value %q", v)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want string
	}{
		{name: "unknown key", file: "server: 127.0.0.1:7000\nconcurency: 3\n", want: `unknown key "concurency" (known: ca, cert, concurrency,`},
		{name: "nested config key", file: "config: other.yaml\n", want: `unknown key "config"`},
		{name: "bad yaml", file: "server: [unclosed\n", want: "config file"},
		{name: "bad type", file: "concurrency: lots\n", want: "bad setting (from --config, ETCLIENT_* or a flag): 'concurrency' cannot parse value as 'int'"},
		{name: "bad value", file: "output: xml\n", want: `--output "xml": want table, json or (benchmarks) csv`},
		{name: "unknown environment variable", env: map[string]string{"ETCLIENT_SEVER": "127.0.0.1:1"}, want: "environment variable ETCLIENT_SEVER is not a setting (known: ETCLIENT_CA,"},
		{name: "bad environment duration", env: map[string]string{"ETCLIENT_TIMEOUT": "soon"}, want: "'timeout' time: invalid duration"},
		{name: "otel endpoint from the environment", env: map[string]string{"ETCLIENT_OTEL_ENDPOINT": "localhost:4318"}, want: `--otel-endpoint "localhost:4318": want an http:// or https:// URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := []string{"benchmark", "read"}
			if tt.file != "" {
				args = append(args, "--config", writeFile(t, "c.yaml", tt.file))
			}
			h := newHarness(t, 1, nil)
			if code := h.run(args...); code != ExitUsage {
				t.Fatalf("exit %d, want %d: %s", code, ExitUsage, h.stderr.String())
			}
			if errLines := lines(h.stderr.String()); len(errLines) != 1 || !strings.Contains(errLines[0], tt.want) {
				t.Fatalf("stderr %q, want one line with %q", h.stderr.String(), tt.want)
			}
		})
	}
}

// TestSampleConfig: the documented sample file loads and means the defaults.
func TestSampleConfig(t *testing.T) {
	h := newHarness(t, 1, nil)
	h.seedValue(t, "1", "a", "v")
	if code := h.run("login,read", "--config", filepath.Join("..", "..", "config.sample.yaml")); code != ExitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	o := h.dialed[0]
	if len(o.Endpoints) != 1 || o.Endpoints[0].Addr != "127.0.0.1:7000" || o.DialTimeout != DefaultTimeout || o.TLS != nil {
		t.Fatalf("sample config dialed %+v", o)
	}
}
