package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/cli"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient/kvclienttest"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/testkit"
	"github.com/seed857a6cbd/pocket/lbclient"
)

func dial(t *testing.T, eps ...lbclient.Endpoint) kvclient.Client {
	t.Helper()
	c, err := kvclient.Dial(context.Background(), kvclient.Options{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestClientContract runs the kvclient conformance suite on the dora client against etserver,
// on one endpoint and on a balanced list whose first endpoint is down, and on the legacy
// client (--legacy).
func TestClientContract(t *testing.T) {
	t.Run("single", func(t *testing.T) {
		kvclienttest.RunAs(t, [kvclienttest.Users]string{"1000", "999", "998"}, func(t *testing.T) kvclient.Client {
			return dial(t, lbclient.Endpoint{Addr: shared.Addr, Weight: 1})
		})
	})
	t.Run("balanced with one server down", func(t *testing.T) {
		down := testkit.ClosedAddr(t)
		kvclienttest.RunAs(t, [kvclienttest.Users]string{"997", "996", "995"}, func(t *testing.T) kvclient.Client {
			return dial(t, lbclient.Endpoint{Addr: down, Weight: 3}, lbclient.Endpoint{Addr: shared.Addr, Weight: 1})
		})
	})
	t.Run("legacy frames", func(t *testing.T) {
		kvclienttest.RunAs(t, [kvclienttest.Users]string{"994", "993", "992"}, func(t *testing.T) kvclient.Client {
			c, err := kvclient.Dial(context.Background(), kvclient.Options{
				Endpoints: []lbclient.Endpoint{{Addr: shared.Addr, Weight: 1}}, DialTimeout: 5 * time.Second, Legacy: true})
			if err != nil {
				t.Fatal(err)
			}
			return c
		})
	})
}

func TestBalancedServerList(t *testing.T) {
	down := testkit.ClosedAddr(t)
	list := down + "#3," + shared.Addr + "#1"
	r := mustRun(t, "login,write,read", "-u", "970", "-p", "970", "-k", "lb", "-v", "up", "--server", list)
	if !strings.Contains(r.stdout, `read   ok  user="970" key="lb" value="up"`) {
		t.Fatalf("balanced login,write,read:\n%v", r)
	}
	rep, _ := benchJSON(t, cli.ExitOK, "benchmark", "read", "-u", "970", "-p", "970", "-k", "lb", "-c", "4", "-r", "25", "--server", list)
	if rep.Success != 100 || rep.Failure != 0 {
		t.Fatalf("balanced benchmark with one server down: %+v", rep)
	}
	// Every server down: the call fails with UNAVAILABLE, one line, exit 1.
	r = etclient("login", "-u", "970", "-p", "970", "--server", down+","+testkit.ClosedAddr(t), "--timeout", "2s")
	if r.code != cli.ExitFailure || !strings.HasPrefix(r.stderr, "etclient: login failed: UNAVAILABLE: ") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("every server down:\n%v", r)
	}
}

// TestBinary runs the etclient binary as a user (and `make demo`) would.
func TestBinary(t *testing.T) {
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bins.etclient, append(args, "--server", shared.Addr)...)
		cmd.Env = serverEnv()
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("login,write,read", "-u", "980", "-p", "980", "-k", "demo", "-v", "hello")
	if err != nil || !strings.Contains(out, `read   ok  user="980" key="demo" value="hello"`) {
		t.Fatalf("etclient login,write,read: %v\n%s", err, out)
	}
	out, err = run("benchmark", "read", "-u", "980", "-p", "980", "-k", "demo", "-c", "4", "-r", "50")
	if err != nil || !strings.Contains(out, "200 (200 ok, 0 failed)") {
		t.Fatalf("etclient benchmark read: %v\n%s", err, out)
	}
	out, err = run("read", "-u", "980", "-k", "demo")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != cli.ExitFailure || !strings.HasPrefix(out, "etclient: read failed: UNAUTHENTICATED: ") {
		t.Fatalf("etclient read without login: %v\n%s", err, out)
	}
}
