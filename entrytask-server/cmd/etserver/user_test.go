package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/adminpb"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testenv"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

// runWithStdin runs the real binary with stdin and returns its combined output.
func runWithStdin(t *testing.T, bin string, env []string, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestBinaryUserCommandsEmbedded and TestBinaryUserCommandsMySQLRedis run `etserver user
// add|passwd|quota|list|del` as real processes on each store, serve it, and log in with
// the chosen passwords.
func TestBinaryUserCommandsEmbedded(t *testing.T) {
	bin, env := buildBinary(t)
	testUserCommands(t, bin, env, []string{"--data-dir", filepath.Join(t.TempDir(), "data")})
}

func TestBinaryUserCommandsMySQLRedis(t *testing.T) {
	dsn, addr := testenv.MySQLDSN(t), testenv.RedisAddr(t)
	prefix := testenv.RedisPrefix(t, addr)
	bin, env := buildBinary(t)
	env = append(env, "ETSERVER_REDIS_PREFIX="+prefix)
	testUserCommands(t, bin, env, []string{"--mysql-dsn", dsn, "--redis-addr", addr})
}

func testUserCommands(t *testing.T, bin string, env, store []string) {
	env = append(env, "ETSERVER_LOG_LEVEL=warn")
	cmd := func(stdin string, args ...string) (string, error) {
		t.Helper()
		// the store flags go after the subcommand, the username last-but-flags
		return runWithStdin(t, bin, env, stdin, append(append([]string{"user"}, args[0]), append(store, args[1:]...)...)...)
	}
	ok := func(stdin, want string, args ...string) string {
		t.Helper()
		out, err := cmd(stdin, args...)
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("etserver user %v: %v\n%s\nwant %q", args, err, out, want)
		}
		return out
	}
	fails := func(stdin, want string, args ...string) {
		t.Helper()
		out, err := cmd(stdin, args...)
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("etserver user %v: %v\n%s\nwant a failure naming %q", args, err, out, want)
		}
	}
	ok("correct horse\n", `added user "alice" (id `, "add", "alice", "--password-stdin", "--read", "5", "--write", "6")
	ok("", "m=19456,t=2,p=1", "list")
	fails("another one\n", "already exists", "add", "alice", "--password-stdin")
	fails("short\n", "at least 8 required", "add", "bob", "--password-stdin")
	fails("long enough\n", "control character", "add", "bad\x01name", "--password-stdin")
	fails("", "--password-stdin", "add", "bob") // no terminal, no flag: refused, never a flag password
	fails("", "not found", "del", "nobody")
	fails("", "required", "quota", "alice", "--read", "1")
	fails("", "write quota 0", "quota", "alice", "--read", "1", "--write", "0")
	ok("battery staple\r\n", `changed the password of user "alice"`, "passwd", "alice", "--password-stdin")
	ok("", "quota read 7/s write 8/s", "quota", "alice", "--read", "7", "--write", "8")
	if out, err := runWithStdin(t, bin, env, "", append([]string{"seed", "--insecure-fast-hashes", "--users", "3"}, store...)...); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	page := ok("", `next page: --after "2"`, "list", "--limit", "2")
	if !strings.Contains(page, `"1"`) || strings.Contains(page, `"alice"`) {
		t.Fatalf("first page:\n%s", page)
	}
	page = ok("", `"alice"`, "list", "--limit", "2", "--after", "2")
	if !strings.Contains(page, `"3"`) || !strings.Contains(page, "below the configured cost") {
		t.Fatalf("second page:\n%s", page)
	}

	srv := startBinary(t, bin, env, append([]string{"--listen", "127.0.0.1:0", "--admin-listen", ""}, store...)...)
	c, err := dora.NewClient(srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	kv := kvpb.NewStoreClient(c)
	loginCode := func(user, pw string) kvpb.CODE {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), rpcTestTimeout)
		defer cancel()
		r, err := kv.Login(ctx, &kvpb.LoginReq{Username: user, Password: pw})
		if err != nil {
			t.Fatalf("Login(%q): %v", user, err)
		}
		return r.GetStatus().GetCode()
	}
	if code := loginCode("alice", "battery staple"); code != kvpb.CODE_OK {
		t.Fatalf("login with the changed password: %v", code)
	}
	if code := loginCode("alice", "correct horse"); code != kvpb.CODE_INCORRECT_USERNAME_OR_PASSWORD {
		t.Fatalf("login with the old password: %v", code)
	}
	if code := loginCode("3", "3"); code != kvpb.CODE_OK { // a fixture hash, upgraded by this login
		t.Fatalf("login of a seeded user: %v", code)
	}
	ok("", `deleted user "alice"`, "del", "alice")
	if code := loginCode("alice", "battery staple"); code != kvpb.CODE_INCORRECT_USERNAME_OR_PASSWORD {
		t.Fatalf("login of a deleted user: %v", code)
	}
	page = ok("", `"3"`, "list", "--after", "2")
	if strings.Contains(page, "below the configured cost") || strings.Contains(page, "alice") {
		t.Fatalf("after the login user 3's hash is still outdated, or alice is listed:\n%s", page)
	}
}

// TestBinaryAdminRPC: the real binary with ETSERVER_ADMIN_TOKEN serves etadmin.Admin; an
// account created remotely logs in with its chosen password and shows in `user list`.
func TestBinaryAdminRPC(t *testing.T) {
	bin, env := buildBinary(t)
	const token = "test-admin-token-0123456789"
	data := []string{"--data-dir", filepath.Join(t.TempDir(), "data")}
	srv := startBinary(t, bin, append(env, "ETSERVER_ADMIN_TOKEN="+token),
		append([]string{"--listen", "127.0.0.1:0", "--admin-listen", ""}, data...)...)
	c, err := dora.NewClient(srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), rpcTestTimeout)
	defer cancel()
	adm := adminpb.NewAdminClient(c)
	if _, err := adm.AddUser(ctx, &adminpb.AddUserReq{Username: "remote", Password: "remote password"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("AddUser without the token: %v", err)
	}
	actx := metadata.NewOutgoingContext(ctx, metadata.Pairs("admin-token", token))
	r, err := adm.AddUser(actx, &adminpb.AddUserReq{Username: "remote", Password: "remote password"})
	if err != nil || r.GetAccount().GetHashParams() != "m=19456,t=2,p=1" {
		t.Fatalf("AddUser: %v %v", r, err)
	}
	lr, err := kvpb.NewStoreClient(c).Login(ctx, &kvpb.LoginReq{Username: "remote", Password: "remote password"})
	if err != nil || lr.GetStatus().GetCode() != kvpb.CODE_OK {
		t.Fatalf("Login: %v %v", lr, err)
	}
	out, err := runWithStdin(t, bin, append(env, "ETSERVER_LOG_LEVEL=warn"), "", append([]string{"user", "list"}, data...)...)
	if err != nil || !strings.Contains(out, `"remote"`) {
		t.Fatalf("user list: %v\n%s", err, out)
	}
}
