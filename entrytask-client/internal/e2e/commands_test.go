package e2e

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/cli"
)

var tokenLine = regexp.MustCompile(`^login  ok  user="(\d+)" token=[0-9a-f]{32}$`)

func TestCommands(t *testing.T) {
	longKey := strings.Repeat("k", 4097)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string // lines; "TOKEN" matches any login line
		wantStderr string   // prefix of the one stderr line; "" means none
	}{
		{"login", []string{"login", "-u", "900", "-p", "900"}, cli.ExitOK, []string{"TOKEN"}, ""},
		{"login,write,read", []string{"login,write,read", "-u", "901", "-p", "901", "-k", "b", "-v", "n"}, cli.ExitOK,
			[]string{"TOKEN", `write  ok  user="901" key="b" value="n"`, `read   ok  user="901" key="b" value="n"`}, ""},
		{"flags in = form", []string{"login,write,read", "-u=901", "-p=901", "--key=c", "--value=m"}, cli.ExitOK,
			[]string{"TOKEN", `write  ok  user="901" key="c" value="m"`, `read   ok  user="901" key="c" value="m"`}, ""},
		{"any key and value", []string{"login,write,read", "-u", "902", "-p", "902", "-k", "with space/ü", "-v", "any value: ✓"}, cli.ExitOK,
			[]string{"TOKEN", `write  ok  user="902" key="with space/ü" value="any value: ✓"`, `read   ok  user="902" key="with space/ü" value="any value: ✓"`}, ""},
		{"read of a missing key", []string{"login,read", "-u", "903", "-p", "903", "-k", "never-written"}, cli.ExitFailure,
			[]string{"TOKEN"}, "etclient: read failed: KEY_NOT_EXIST: key does not exist\n"},
		{"the sequence stops at the first failure", []string{"login,read,write", "-u", "904", "-p", "904", "-k", "stop"}, cli.ExitFailure,
			[]string{"TOKEN"}, "etclient: read failed: KEY_NOT_EXIST: "},
		{"read without login is refused by the server", []string{"read", "-u", "901", "-k", "b"}, cli.ExitFailure,
			nil, "etclient: read failed: UNAUTHENTICATED: "},
		{"write without login is refused by the server", []string{"write", "-u", "901", "-k", "b", "-v", "x"}, cli.ExitFailure,
			nil, "etclient: write failed: UNAUTHENTICATED: "},
		{"wrong password", []string{"login,read", "-u", "905", "-p", "not-905"}, cli.ExitFailure,
			nil, "etclient: login failed: INCORRECT_USERNAME_OR_PASSWORD: incorrect username or password\n"},
		{"unknown user looks like a wrong password", []string{"login", "-u", "no-such-user", "-p", "x"}, cli.ExitFailure,
			nil, "etclient: login failed: INCORRECT_USERNAME_OR_PASSWORD: incorrect username or password\n"},
		{"key over the server's limit", []string{"login,write", "-u", "906", "-p", "906", "-k", longKey}, cli.ExitFailure,
			[]string{"TOKEN"}, "etclient: write failed: INVALID_ARGUMENT: "},
		{"bad flag", []string{"login", "--bogus"}, cli.ExitUsage, nil, "etclient: flag provided but not defined: -bogus"},
		{"bad flag value", []string{"benchmark", "read", "-c", "many"}, cli.ExitUsage, nil, "etclient: "},
		{"unknown command", []string{"login,frobnicate"}, cli.ExitUsage, nil, "etclient: "},
		{"bad server list", []string{"login", "--server", "127.0.0.1"}, cli.ExitUsage, nil, "etclient: "},
		{"bad output", []string{"login", "--output", "yaml"}, cli.ExitUsage, nil, "etclient: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := etclient(tt.args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%v", r.code, tt.wantCode, r)
			}
			if tt.wantStdout != nil {
				got := lines(r.stdout)
				if len(got) != len(tt.wantStdout) {
					t.Fatalf("stdout %q, want %d lines like %q", got, len(tt.wantStdout), tt.wantStdout)
				}
				for i, want := range tt.wantStdout {
					if want == "TOKEN" && tokenLine.MatchString(got[i]) || got[i] == want {
						continue
					}
					t.Fatalf("stdout line %d = %q, want %q", i+1, got[i], want)
				}
			}
			switch {
			case tt.wantStderr == "" && r.stderr != "":
				t.Fatalf("unexpected stderr %q", r.stderr)
			case !strings.HasPrefix(r.stderr, tt.wantStderr) || strings.Count(r.stderr, "\n") > 1:
				t.Fatalf("stderr %q, want one line starting %q", r.stderr, tt.wantStderr)
			}
		})
	}
	// The stopped sequence did not write: the key is still missing.
	r := etclient("login,read", "-u", "904", "-p", "904", "-k", "stop")
	if !strings.Contains(r.stderr, "KEY_NOT_EXIST") {
		t.Fatalf("after a stopped login,read,write the key exists:\n%v", r)
	}
}

func TestHelpNeedsNoServer(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"login", "--help"}, {"benchmark", "read", "--help"}, {"help", "benchmark"}} {
		r := etclientArgs(args...)
		if r.code != cli.ExitOK || !strings.Contains(r.stdout, "etclient") || r.stderr != "" {
			t.Fatalf("etclient %v:\n%v", args, r)
		}
	}
}

func TestComposedJSON(t *testing.T) {
	r := mustRun(t, "login,write,read", "-u", "907", "-p", "907", "-k", "j", "-v", "json", "--output", "json")
	var steps []map[string]any
	for _, l := range lines(r.stdout) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		steps = append(steps, m)
	}
	if len(steps) != 3 || steps[0]["step"] != "login" || steps[2]["step"] != "read" || steps[2]["value"] != "json" {
		t.Fatalf("steps %v", steps)
	}
	for _, s := range steps {
		if s["ok"] != true {
			t.Fatalf("step not ok: %v", s)
		}
	}
	r = etclient("read", "-u", "907", "-k", "j", "--output", "json")
	if r.code != cli.ExitFailure || !strings.Contains(r.stdout, `"code":"UNAUTHENTICATED"`) {
		t.Fatalf("read without login in JSON:\n%v", r)
	}
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
