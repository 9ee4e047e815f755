package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
	"github.com/seed857a6cbd/pocket/benchmarks/kv"
	"github.com/seed857a6cbd/pocket/benchmarks/transport"
)

func TestParseInts(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []int
		wantErr bool
	}{
		{name: "list", in: "1, 16,100", want: []int{1, 16, 100}},
		{name: "empty", in: " , ", wantErr: true},
		{name: "not a number", in: "1,x", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseInts(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseInts(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			}
			if !tc.wantErr && !equal(got, tc.want) {
				t.Errorf("parseInts(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// etserverBinary builds etserver for a test that serves the kv suite in process.
func etserverBinary(t *testing.T) string {
	t.Helper()
	bin, err := kv.Build(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// testKVUser is the user the kv tests seed up to and log in as: seeding takes about a
// second per thousand users under -race, and the read quota of user 5000 and the three
// before it (about 15,000/s each, etserver's 3 × id + 3) is out of reach of the tests'
// callers. At 2000 (6,003/s) two callers without -race on a quiet box went over it
// ("read quota of 6000/s exceeded").
const testKVUser = 5000

func TestCells(t *testing.T) {
	cfg := config{
		payloads: []int{64, 1024}, concurrency: []int{1, 100}, modes: transport.Modes,
		rrPayload: 1024, smallPayload: 64, warmup: time.Second, duration: time.Second,
	}
	if got := len(cfg.cells(suiteRPC, "grpc")); got != 4 {
		t.Errorf("rpc cells = %d, want 2 payloads × 2 concurrencies", got)
	}
	cells := cfg.cells(suiteTransport, "tcp")
	if len(cells) != 4 {
		t.Fatalf("transport cells = %d, want 2 rr + bulk + mixed", len(cells))
	}
	if c := cells[2]; c.mode != transport.ModeBulk || c.payload != transport.BulkMessage || c.concurrency != 1 {
		t.Errorf("bulk cell = %+v", c)
	}
	cfg.iipPayload = 14410
	iip := cfg.cells(suiteIIP, "iip")
	if len(iip) != 2 || iip[0].payload != 14410 || iip[1].concurrency != 100 {
		t.Errorf("iip cells = %+v, want 14410 B at 1 and 100 callers", iip)
	}
	cfg.kv = kvConfig{ops: kv.Ops, concurrency: []int{12, 100}, value: 2000, user: 33333}
	kvCells := cfg.cells(suiteKV, "etserver")
	if len(kvCells) != 4 || kvCells[0].mode != kv.OpRead || kvCells[3].mode != kv.OpWrite ||
		kvCells[1].concurrency != 100 || kvCells[2].payload != 2000 || kvCells[2].kvUser != 33333 {
		t.Errorf("kv cells = %+v, want read then write, 2000 B, at 12 and 100 callers, user 33333", kvCells)
	}
}

func TestRPCSuiteNames(t *testing.T) {
	names := rpcSuiteNames()
	if len(names) == 0 {
		t.Fatal("no rpc suite frameworks")
	}
	for _, n := range names {
		if strings.HasPrefix(n, iipPrefix) {
			t.Errorf("rpcSuiteNames() = %v has the IIP suite's %q", names, n)
		}
	}
}

// TestServerAndClient runs the server and client sides of rpcbench in process, over the
// same line protocol the child processes speak.
func TestServerAndClient(t *testing.T) {
	for _, tc := range []struct{ suite, name, mode string }{
		{suiteRPC, "grpc", modeUnary},
		{suiteTransport, "tcp", transport.ModeRR},
		{suiteKV, "etserver", kv.OpRead},
	} {
		t.Run(tc.suite+"/"+tc.name, func(t *testing.T) {
			inR, inW := io.Pipe()
			outR, outW := io.Pipe()
			served := make(chan error, 1)
			go func() {
				store := kv.StoreOptions{Users: testKVUser}
				if tc.suite == suiteKV {
					store.Binary = etserverBinary(t)
				}
				err := serve(tc.suite, tc.name, store, inR, outW)
				outW.Close()
				served <- err
			}()
			sc := bufio.NewScanner(outR)
			if !sc.Scan() || !strings.HasPrefix(sc.Text(), lineListening) {
				t.Fatalf("server said %q, %v", sc.Text(), sc.Err())
			}
			addr := strings.TrimPrefix(sc.Text(), lineListening)

			if _, err := io.WriteString(inW, lineSnapshot+"\n"); err != nil {
				t.Fatal(err)
			}
			if !sc.Scan() || !strings.HasPrefix(sc.Text(), lineSnapshot+" ") {
				t.Fatalf("snapshot answer %q, %v", sc.Text(), sc.Err())
			}
			var u harness.Usage
			if err := json.Unmarshal([]byte(strings.TrimPrefix(sc.Text(), lineSnapshot+" ")), &u); err != nil {
				t.Fatal(err)
			}

			var out bytes.Buffer
			c := cell{suite: tc.suite, framework: tc.name, mode: tc.mode, payload: 64, concurrency: 2, duration: 20 * time.Millisecond, kvUser: testKVUser}
			if err := runClient(c, addr, &out); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 3 || lines[0] != "phase start" || lines[1] != "phase end" || !strings.HasPrefix(lines[2], lineResult) {
				t.Fatalf("client printed %q", lines)
			}
			var m harness.Measurement
			if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[2], lineResult)), &m); err != nil {
				t.Fatal(err)
			}
			if m.Window <= 0 {
				t.Errorf("measurement %+v has no window", m)
			}

			if _, err := io.WriteString(inW, lineQuit+"\n"); err != nil {
				t.Fatal(err)
			}
			if err := <-served; err != nil {
				t.Fatalf("server: %v", err)
			}
			inW.Close()
		})
	}
}

// TestConfigFromKV checks the kv suite's flags: defaults, the --short preset, validation.
func TestConfigFromKV(t *testing.T) {
	t.Setenv(envMySQLDSN, "")
	t.Setenv(envRedisAddr, "")
	tests := []struct {
		name    string
		args    []string
		want    []int // kv concurrency
		store   string
		wantErr string
	}{
		{name: "defaults", want: []int{1, 12, 100}, store: kv.ModeEmbedded},
		{name: "short", args: []string{"--short"}, want: []int{12, 100}, store: kv.ModeEmbedded},
		{name: "short with callers", args: []string{"--short", "--kv-concurrency", "1000"}, want: []int{1000}, store: kv.ModeEmbedded},
		{name: "mysql+redis", args: []string{"--kv-mysql-dsn", "root@tcp(127.0.0.1:3306)/x", "--kv-redis-addr", "127.0.0.1:6379"},
			want: []int{1, 12, 100}, store: kv.ModeMySQLRedis},
		{name: "dsn alone", args: []string{"--kv-mysql-dsn", "root@tcp(127.0.0.1:3306)/x"}, wantErr: "go together"},
		{name: "unknown server", args: []string{"--kv-frameworks", "etserver,nope"}, wantErr: "unknown framework"},
		{name: "unknown op", args: []string{"--kv-ops", "delete"}, wantErr: "unknown kv op"},
		{name: "no value", args: []string{"--kv-value", "0"}, wantErr: "--kv-value"},
		{name: "no user", args: []string{"--kv-user", "0"}, wantErr: "--kv-user"},
		{name: "unknown suite", args: []string{"--suites", "kv,nope"}, wantErr: "unknown suite"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cfg config
			var cerr error
			app := &cli.App{Flags: runFlags(), Action: func(c *cli.Context) error {
				cfg, cerr = configFrom(c)
				return nil
			}}
			if err := app.Run(append([]string{"rpcbench"}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" {
				if cerr == nil || !strings.Contains(cerr.Error(), tc.wantErr) {
					t.Fatalf("configFrom(%v) = %v, want an error with %q", tc.args, cerr, tc.wantErr)
				}
				return
			}
			if cerr != nil {
				t.Fatal(cerr)
			}
			if !equal(cfg.kv.concurrency, tc.want) || cfg.kv.store() != tc.store || cfg.kv.user != kv.DefaultUser ||
				cfg.kv.value != kv.DefaultValue || len(cfg.kv.frameworks) == 0 {
				t.Errorf("configFrom(%v).kv = %+v, want callers %v on %s", tc.args, cfg.kv, tc.want, tc.store)
			}
		})
	}
}
