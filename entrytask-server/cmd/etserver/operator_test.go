package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora"

	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

// kubernetesEnv is what Kubernetes injects into every pod of a namespace that has a
// Service named etserver (port 8080): none of it is a configuration key.
var kubernetesEnv = []string{
	"ETSERVER_SERVICE_HOST=10.96.0.12", "ETSERVER_SERVICE_PORT=8080", "ETSERVER_PORT=tcp://10.96.0.12:8080",
	"ETSERVER_PORT_8080_TCP=tcp://10.96.0.12:8080", "ETSERVER_PORT_8080_TCP_PROTO=tcp",
	"ETSERVER_PORT_8080_TCP_PORT=8080", "ETSERVER_PORT_8080_TCP_ADDR=10.96.0.12",
}

// stopBinary sends SIGTERM and waits for a clean exit.
func stopBinary(t *testing.T, srv *binaryServer) {
	t.Helper()
	if err := srv.Stop(rpcTestTimeout); err != nil {
		t.Fatal(err)
	}
}

// TestBinaryOperator runs the real binary as an operator would: under a Kubernetes-like
// environment with ETSERVER_CONFIG, with log.format json, and with command-line mistakes.
func TestBinaryOperator(t *testing.T) {
	bin, env := buildBinary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	runBinary(t, bin, env, "seed", "--insecure-fast-hashes", "--data-dir", data, "--users", "3", "--log-format", "json")

	t.Run("kubernetes env", func(t *testing.T) {
		file := filepath.Join(dir, "etserver.yaml")
		if err := os.WriteFile(file, []byte("data_dir: "+data+"\nlisten: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// The ignored variables are logged once, at debug (every pod in the namespace has them).
		kenv := append(append([]string{"ETSERVER_CONFIG=" + file, "ETSERVER_LOG_LEVEL=debug"}, env...), kubernetesEnv...)
		srv := startBinary(t, bin, kenv)
		c, err := dora.NewClient(srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, c, "1")
		c.Close()
		stopBinary(t, srv)
		var warnings []string
		for _, line := range strings.Split(srv.log(), "\n") {
			if strings.Contains(line, "ignoring environment variables") {
				warnings = append(warnings, line)
			}
		}
		if len(warnings) != 1 || !strings.Contains(warnings[0], "level=DEBUG") ||
			!strings.Contains(warnings[0], "ETSERVER_SERVICE_HOST") || !strings.Contains(warnings[0], "ETSERVER_PORT_8080_TCP_ADDR") {
			t.Fatalf("want one debug record naming the ignored variables, got %q\n%s", warnings, srv.log())
		}
		// A typo in the file stays fatal.
		if err := os.WriteFile(file, []byte("data_dir: "+data+"\nlistn: 127.0.0.1:0\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "migrate")
		cmd.Env = kenv
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitFailed || !strings.Contains(string(out), `unknown key "listn"`) {
			t.Fatalf("typo in the file: %v\n%s", err, out)
		}
	})

	t.Run("json logs", func(t *testing.T) {
		jenv := append(append([]string{}, env...), kubernetesEnv...)
		srv := startBinary(t, bin, jenv, "--data-dir", data, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
			"--log-format", "json", "--log-level", "debug")
		c, err := dora.NewClient(srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, c, "2")
		ctx, cancel := context.WithTimeout(context.Background(), rpcTestTimeout)
		r, err := kvpb.NewStoreClient(c).Login(ctx, &kvpb.LoginReq{Username: "2", Password: "wrong"})
		cancel()
		if err != nil || r.GetStatus().GetCode() != kvpb.CODE_INCORRECT_USERNAME_OR_PASSWORD {
			t.Fatalf("wrong password: %v %v", r, err)
		}
		c.Close()
		hc := &http.Client{Timeout: 10 * time.Second}
		const failed = `etserver_rpc_app_status_total{method="/kv.Store/Login",status="INCORRECT_USERNAME_OR_PASSWORD"} 1`
		if code, body := get(t, hc, "http://"+srv.admin+"/metrics"); code != 200 || !strings.Contains(body, failed) || !strings.Contains(body, "etserver_build_info{") {
			t.Errorf("/metrics = %d, want %s and etserver_build_info:\n%s", code, failed, body)
		}
		if code, _ := get(t, hc, "http://"+srv.admin+"/debug/pprof/"); code != http.StatusNotFound {
			t.Errorf("/debug/pprof/ without --admin-pprof = %d, want 404", code)
		}
		hc.CloseIdleConnections()
		stopBinary(t, srv)

		msgs := map[string]bool{}
		took := 0
		for _, line := range strings.Split(strings.TrimSuffix(srv.log(), "\n"), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("stderr line is not JSON (%v): %q\n%s", err, line, srv.log())
			}
			msgs[rec["msg"].(string)] = true
			if v, ok := rec["took"]; ok {
				took++
				if s, ok := v.(string); !ok || s == "" || !strings.ContainsAny(s[len(s)-1:], "smhµ") {
					t.Errorf("took = %#v, want a duration string with its unit", v)
				}
			}
		}
		for _, m := range []string{"listening", "call", "ignoring environment variables that name no configuration key", "stopped"} {
			if !msgs[m] {
				t.Errorf("no %q record in\n%s", m, srv.log())
			}
		}
		if took == 0 {
			t.Errorf("no call record with took in\n%s", srv.log())
		}
	})

	t.Run("json failure", func(t *testing.T) {
		// A failure after the configuration loaded is reported in the log's format.
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		cmd := exec.Command(bin, "serve", "--data-dir", data, "--listen", busy.Addr().String(), "--admin-listen", "", "--log-format", "json")
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err = cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitFailed {
			t.Fatalf("serve on a busy port: %v, want exit %d\n%s", err, exitFailed, stderr.String())
		}
		var last map[string]any
		for _, line := range strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n") {
			if err := json.Unmarshal([]byte(line), &last); err != nil {
				t.Fatalf("stderr line is not JSON (%v): %q", err, line)
			}
		}
		if last["level"] != "ERROR" || last["msg"] != "etserver failed" || !strings.Contains(fmt.Sprint(last["err"]), "listen") {
			t.Fatalf("last record %v, want the failure as an ERROR record", last)
		}
	})

	t.Run("exit status", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			code int
			out  string // on stdout
		}{
			{nil, exitUsage, ""},
			{[]string{"bogus"}, exitUsage, ""},
			{[]string{"serve", "--bogus"}, exitUsage, ""},
			{[]string{"--version"}, 0, "etserver "},
			{[]string{"version"}, 0, "etserver "},
		} {
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = env
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || !strings.Contains(stdout.String(), tc.out) || (code == exitUsage && stdout.Len() != 0) {
				t.Errorf("etserver %v: exit %d, stdout %q, stderr %q; want exit %d, usage on stderr only", tc.args, code, stdout.String(), stderr.String(), tc.code)
			}
		}
	})
}
