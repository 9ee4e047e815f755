package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient/kvfake"
	"github.com/seed857a6cbd/pocket/lbclient"
)

// TestFlagForms: "-u 100", "-u=100", "--user 100" and "--user=100" all work.
func TestFlagForms(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"short separate", []string{"login,write,read", "-u", "100", "-p", "100", "-k", "b", "-v", "n"}},
		{"short equals", []string{"login,write,read", "-u=100", "-p=100", "-k=b", "-v=n"}},
		{"long separate", []string{"login,write,read", "--user", "100", "--password", "100", "--key", "b", "--value", "n"}},
		{"long equals", []string{"login,write,read", "--user=100", "--password=100", "--key=b", "--value=n"}},
		{"mixed order", []string{"login,write,read", "-v", "n", "--key=b", "-p=100", "--user", "100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 100, nil)
			if code := h.run(tt.args...); code != ExitOK {
				t.Fatalf("exit %d, stderr %q", code, h.stderr.String())
			}
			out := lines(h.stdout.String())
			if len(out) != 3 || !strings.HasPrefix(out[0], `login  ok  user="100" token=`) ||
				out[1] != `write  ok  user="100" key="b" value="n"` || out[2] != `read   ok  user="100" key="b" value="n"` {
				t.Fatalf("stdout:\n%s", h.stdout.String())
			}
			if v, _ := h.srv.Value("100", "b"); v != "n" {
				t.Fatalf("stored value %q", v)
			}
		})
	}
}

// TestAnyKeyAndValue: keys and values are any non-empty strings, not just one letter.
func TestAnyKeyAndValue(t *testing.T) {
	h := newHarness(t, 1, nil)
	key, value := "user:42/profile name", strings.Repeat("ü€", 500)
	if code := h.run("login,write,read", "-k", key, "-v", value, "--output", "json"); code != ExitOK {
		t.Fatalf("exit %d, stderr %q", code, h.stderr.String())
	}
	out := lines(h.stdout.String())
	var last stepResult
	if err := json.Unmarshal([]byte(out[len(out)-1]), &last); err != nil {
		t.Fatal(err)
	}
	if last.Step != "read" || !last.OK || last.Key != key || last.Value != value {
		t.Fatalf("read result %+v", last)
	}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"app", []string{"--help"}, []string{"etclient COMMAND [OPTIONS]", "login", "read", "write", "benchmark", "etclient login,write,read -u 100 -p 100 -k b -v n"}},
		{"app short", []string{"-h"}, []string{"etclient COMMAND [OPTIONS]"}},
		{"help command", []string{"help"}, []string{"etclient COMMAND [OPTIONS]"}},
		{"help for a command", []string{"help", "write"}, []string{"etclient write [OPTIONS]"}},
		{"login", []string{"login", "--help"}, []string{"etclient login [OPTIONS]", "--user value, -u value", `(default: "1")`, "--server address", "--tls-key value"}},
		{"read", []string{"read", "-h"}, []string{"etclient read [OPTIONS]", "--key value, -k value"}},
		{"composed", []string{"login,write,read", "--help"}, []string{"etclient login,write,read [OPTIONS]", "run login, then write, then read over one session"}},
		{"benchmark", []string{"benchmark", "--help"}, []string{"etclient benchmark read|write [OPTIONS]", "read ", "write "}},
		{"benchmark read", []string{"benchmark", "read", "--help"}, []string{"etclient benchmark read [OPTIONS]", "--concurrency value, -c value", "--requests value, -r value", "--rate value", "--max-failures value", "--value-size value", "--users value", "--warmup value", "--duration value, -d value"}},
		{"benchmark write", []string{"benchmark", "write", "-h"}, []string{"etclient benchmark write [OPTIONS]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 1, nil)
			if code := h.run(tt.args...); code != ExitOK {
				t.Fatalf("exit %d, stderr %q", code, h.stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(h.stdout.String(), w) {
					t.Errorf("help lacks %q:\n%s", w, h.stdout.String())
				}
			}
			if h.stderr.Len() != 0 || len(h.dialed) != 0 {
				t.Fatalf("help wrote stderr %q or dialed %d times", h.stderr.String(), len(h.dialed))
			}
		})
	}
}

// TestBadCommandLines: each bad command line exits with ExitUsage and one clear line on
// stderr, without dialing the server.
func TestBadCommandLines(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "etclient: no command given"},
		{"unknown command", []string{"delete"}, `etclient: unknown command "delete": want login, read, write or benchmark`},
		{"unknown flag", []string{"login", "-x"}, "etclient: flag provided but not defined: -x (see 'etclient login --help')"},
		{"unknown flag on benchmark", []string{"benchmark", "read", "--nope=1"}, "flag provided but not defined: -nope (see 'etclient benchmark read --help')"},
		{"missing flag value", []string{"read", "-k"}, "flag needs an argument: -k"},
		{"bad int", []string{"benchmark", "read", "-c", "many"}, `invalid value "many" for flag -c`},
		{"bad duration", []string{"login", "--timeout", "soon"}, `invalid value "soon" for flag -timeout`},
		{"benchmark-only flag on login", []string{"login", "-c", "3"}, "flag provided but not defined: -c"},
		{"empty key", []string{"read", "-k", ""}, "etclient: --key must not be empty"},
		{"empty value", []string{"write", "-v="}, "etclient: --value must not be empty"},
		{"empty user", []string{"login", "-u", ""}, "etclient: --user must not be empty"},
		{"bad output", []string{"login", "--output", "yaml"}, `etclient: --output "yaml": want table, json or (benchmarks) csv`},
		{"otel endpoint without scheme", []string{"login", "--otel-endpoint", "127.0.0.1:4318"}, `etclient: --otel-endpoint "127.0.0.1:4318": want an http:// or https:// URL`},
		{"bad server", []string{"login", "--server", "127.0.0.1"}, `etclient: --server: lbclient: bad target: entry 1 "127.0.0.1": address "127.0.0.1" is not host:port`},
		{"bad weight", []string{"login", "--server", "127.0.0.1:7000#-1"}, `entry 1 "127.0.0.1:7000#-1": weight "-1" is not an integer 1-100`},
		{"zero concurrency", []string{"benchmark", "read", "-c", "0"}, "--concurrency 0 must be at least 1"},
		{"zero requests", []string{"benchmark", "read", "-r=0"}, "--requests 0 must be at least 1"},
		{"negative rate", []string{"benchmark", "read", "--rate", "-5"}, "--rate -5 must not be negative"},
		{"value size too small", []string{"benchmark", "write", "-v", "hello", "--value-size", "3"}, "--value-size 3 is shorter than the 5-byte --value"},
		{"non-numeric first user", []string{"benchmark", "read", "-u", "alice", "--users", "3"}, `first user "alice" must be a number`},
		{"ca without tls", []string{"login", "--ca", "ca.pem"}, "--ca needs --tls"},
		{"legacy with tls", []string{"login", "--legacy", "--tls"}, "--legacy speaks plain TCP without tracing"},
		{"legacy with a server list", []string{"login", "--legacy", "--server", "127.0.0.1:1,127.0.0.1:2"}, "--legacy takes one --server, not a list"},
		{"cert without key", []string{"login", "--tls", "--cert", "c.pem"}, "--cert and --tls-key go together"},
		{"bad composition", []string{"login,benchmark"}, `command "login,benchmark": "benchmark" cannot be composed`},
		{"empty step", []string{"login,,read"}, `command "login,,read" has an empty step`},
		{"trailing comma", []string{"login,"}, `command "login," has an empty step`},
		{"extra argument", []string{"read", "a"}, `read: unexpected argument "a"`},
		{"benchmark without method", []string{"benchmark"}, "etclient: benchmark needs read or write"},
		{"benchmark bad method", []string{"benchmark", "delete"}, `benchmark "delete": want read or write`},
		{"missing config", []string{"login", "--config", "/nonexistent/etclient.yaml"}, "config file /nonexistent/etclient.yaml does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 1, nil)
			code := h.run(tt.args...)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d; stderr %q", code, ExitUsage, h.stderr.String())
			}
			errLines := lines(h.stderr.String())
			if len(errLines) != 1 || !strings.HasPrefix(errLines[0], "etclient: ") || !strings.Contains(errLines[0], tt.want) {
				t.Fatalf("stderr %q, want one line containing %q", h.stderr.String(), tt.want)
			}
			if len(h.dialed) != 0 {
				t.Fatalf("dialed the server for a bad command line")
			}
		})
	}
}

// TestComposition: a sequence shares one session and stops at the first failure with a
// one-line reason and ExitFailure.
func TestComposition(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    []string // prefixes of the stdout lines
		wantErr    string
		wantReads  int
		wantLogins int
	}{
		{name: "plain read is refused without a session", args: []string{"read", "-u", "3", "-k", "a"},
			wantCode: ExitFailure, wantErr: "etclient: read failed: UNAUTHENTICATED: missing session token", wantReads: 1},
		{name: "plain write is refused without a session", args: []string{"write", "-u", "3"},
			wantCode: ExitFailure, wantErr: "etclient: write failed: UNAUTHENTICATED: missing session token"},
		{name: "login alone", args: []string{"login", "-u", "3", "-p", "3"},
			wantCode: ExitOK, wantOut: []string{`login  ok  user="3" token=`}, wantLogins: 1},
		{name: "wrong password stops before read", args: []string{"login,read", "-u", "3", "-p", "4"},
			wantCode: ExitFailure, wantErr: "etclient: login failed: INCORRECT_USERNAME_OR_PASSWORD: incorrect username or password", wantLogins: 1},
		{name: "unknown user looks the same", args: []string{"login,read", "-u", "nobody", "-p", "x"},
			wantCode: ExitFailure, wantErr: "etclient: login failed: INCORRECT_USERNAME_OR_PASSWORD: incorrect username or password", wantLogins: 1},
		{name: "missing key stops the sequence", args: []string{"login,read,write", "-u", "3", "-p", "3", "-k", "nope"},
			wantCode: ExitFailure, wantOut: []string{`login  ok  user="3"`}, wantErr: "etclient: read failed: KEY_NOT_EXIST: key does not exist", wantReads: 1, wantLogins: 1},
		{name: "login,read shares the session", args: []string{"login,read", "-u", "3", "-p", "3", "-k", "seeded"},
			wantCode: ExitOK, wantOut: []string{`login  ok  user="3"`, `read   ok  user="3" key="seeded" value="x"`}, wantReads: 1, wantLogins: 1},
		{name: "write then read then read again", args: []string{"login,write,read,read", "-u", "3", "-p", "3", "-k", "k2", "-v", "v2"},
			wantCode: ExitOK, wantOut: []string{`login`, `write  ok  user="3" key="k2" value="v2"`, `read   ok  user="3" key="k2" value="v2"`, `read   ok`}, wantReads: 2, wantLogins: 1},
		{name: "a second login replaces the session", args: []string{"login,login,read", "-u", "3", "-p", "3", "-k", "seeded"},
			wantCode: ExitOK, wantOut: []string{`login`, `login`, `read   ok`}, wantReads: 1, wantLogins: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 5, nil)
			h.seedValue(t, "3", "seeded", "x")
			code := h.run(tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.wantCode, h.stderr.String())
			}
			out := lines(h.stdout.String())
			if len(out) != len(tt.wantOut) {
				t.Fatalf("stdout has %d lines, want %d:\n%s", len(out), len(tt.wantOut), h.stdout.String())
			}
			for i, w := range tt.wantOut {
				if !strings.HasPrefix(out[i], w) {
					t.Errorf("stdout line %d = %q, want prefix %q", i, out[i], w)
				}
			}
			if got := strings.TrimRight(h.stderr.String(), "\n"); got != tt.wantErr {
				t.Fatalf("stderr %q, want %q", got, tt.wantErr)
			}
			if got := h.srv.Calls(kvfake.MethodRead); got != tt.wantReads {
				t.Fatalf("%d reads reached the server, want %d", got, tt.wantReads)
			}
			if got := len(h.loginUsers()); got != tt.wantLogins {
				t.Fatalf("%d logins, want %d", got, tt.wantLogins)
			}
			if h.closes != 1 || len(h.dialed) != 1 {
				t.Fatalf("dialed %d, closed %d times; want 1 and 1", len(h.dialed), h.closes)
			}
		})
	}
}

func TestSequenceJSONOutput(t *testing.T) {
	h := newHarness(t, 5, nil)
	code := h.run("login,write,read,read", "-u", "2", "-p", "2", "-k", "a", "-v", "b", "--output", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	out := lines(h.stdout.String())
	if len(out) != 4 {
		t.Fatalf("stdout:\n%s", h.stdout.String())
	}
	var login stepResult
	if err := json.Unmarshal([]byte(out[0]), &login); err != nil || login.Step != "login" || !login.OK || len(login.Token) != 32 {
		t.Fatalf("login line %q: %+v %v", out[0], login, err)
	}
	if out[3] != `{"step":"read","ok":true,"user":"2","key":"a","value":"b"}` {
		t.Fatalf("read line %q", out[3])
	}

	h = newHarness(t, 5, nil)
	if code := h.run("read", "--output", "json"); code != ExitFailure {
		t.Fatalf("exit %d", code)
	}
	if got := h.stdout.String(); got != `{"step":"read","ok":false,"user":"1","code":"UNAUTHENTICATED","error":"UNAUTHENTICATED: missing session token"}`+"\n" {
		t.Fatalf("failure line %q", got)
	}
}

// TestTimeout: --timeout bounds each call.
func TestTimeout(t *testing.T) {
	slow := newHarness(t, 5, nil)
	slow.srv = kvfake.New(5, func(ctx context.Context, method, _ string) error {
		<-ctx.Done() // never answers; only the timeout ends the call
		return ctx.Err()
	})
	if code := slow.run("login", "--timeout", "1ms"); code != ExitFailure {
		t.Fatalf("exit %d", code)
	}
	if got := slow.stderr.String(); got != "etclient: login failed: context deadline exceeded\n" {
		t.Fatalf("stderr %q", got)
	}
	if o := slow.dialed[0]; o.DialTimeout != time.Millisecond {
		t.Fatalf("dial timeout %v", o.DialTimeout)
	}
}

func TestDialFailure(t *testing.T) {
	h := newHarness(t, 1, nil)
	h.dialErr = fmt.Errorf("%w: {Addr: Weight:0}", kvclient.ErrBadEndpoint)
	if code := h.run("login"); code != ExitFailure {
		t.Fatalf("exit %d", code)
	}
	want := "etclient: connecting to 127.0.0.1:7000: kvclient: bad server address: {Addr: Weight:0}\n"
	if h.stderr.String() != want {
		t.Fatalf("stderr %q", h.stderr.String())
	}
}

func TestServerList(t *testing.T) {
	h := newHarness(t, 1, nil)
	if code := h.run("login", "--server", "127.0.0.1:7001#3,127.0.0.1:7002"); code != ExitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	eps := h.dialed[0].Endpoints
	if len(eps) != 2 || eps[0] != (lbclient.Endpoint{Addr: "127.0.0.1:7001", Weight: 3}) || eps[1] != (lbclient.Endpoint{Addr: "127.0.0.1:7002", Weight: 1}) {
		t.Fatalf("endpoints %v", eps)
	}
	if h.dialed[0].TLS != nil {
		t.Fatal("TLS without --tls")
	}
}
