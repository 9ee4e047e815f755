package e2e

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// postEcho POSTs body to the net/http echo and returns the answer.
func postEcho(t *testing.T, hc *http.Client, url string, body []byte) []byte {
	t.Helper()
	resp, err := hc.Post(url, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s %s", url, resp.Status, got)
	}
	return got
}

func TestEcho(t *testing.T) {
	t.Parallel()
	srv := start(t, nil, "echo_server", "--iip-addr=127.0.0.1:0", "--http-addr=127.0.0.1:0", "--adapter-addr=127.0.0.1:0")
	addrs := srv.addrs("iip", "http", "adapter")

	t.Run("echo_client", func(t *testing.T) {
		in := "hello\nworld, with spaces\n\n" + strings.Repeat("x", 100_000) + "\n"
		c := start(t, strings.NewReader(in), "echo_client", "--addr="+addrs[0])
		// An empty line cannot travel as empty IIP data: it is sent as {}.
		want := strings.Replace(in, "\n\n", "\n{}\n", 1)
		if got := c.mustSucceed(); got != want {
			t.Fatalf("echo_client printed %d bytes %.60q, want %d bytes %.60q", len(got), got, len(want), want)
		}
	})
	t.Run("echo_benchmark over net/http", func(t *testing.T) {
		hc := &http.Client{Transport: &http.Transport{}}
		defer hc.CloseIdleConnections()
		body := bytes.Repeat([]byte("0123456789abcdef"), 900) // 14,400 bytes, like the PF payload
		if got := postEcho(t, hc, "http://"+addrs[1]+"/echo_benchmark", body); !bytes.Equal(got, body) {
			t.Fatalf("echo of %d bytes came back as %d bytes", len(body), len(got))
		}
		resp, err := hc.Get("http://" + addrs[1] + "/echo_benchmark")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("GET: %s, want 405", resp.Status)
		}
	})
	t.Run("httpadapter in front of IIP /echo", func(t *testing.T) {
		hc := &http.Client{Transport: &http.Transport{}}
		defer hc.CloseIdleConnections()
		body := []byte("through the adapter")
		for _, path := range []string{"/echo", "/echo_benchmark?x=1"} {
			if got := postEcho(t, hc, "http://"+addrs[2]+path, body); !bytes.Equal(got, body) {
				t.Fatalf("%s: got %q", path, got)
			}
		}
		resp, err := hc.Post("http://"+addrs[2]+"/nothing", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("unknown IIP path: %s, want 404", resp.Status)
		}
		// The adapter's metrics: the unknown path counted by HTTP code and by error code.
		resp, err = hc.Get("http://" + addrs[2] + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		m, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`httpadapter_requests_total{code="200",route="echo"} 2`,
			`httpadapter_requests_total{code="404",route="echo"} 1`,
			`httpadapter_errors_total{error="not_found",route="echo"} 1`} {
			if !strings.Contains(string(m), want) {
				t.Errorf("adapter /metrics lacks %s:\n%s", want, m)
			}
		}
	})
	t.Run("wrong address", func(t *testing.T) {
		srv2 := start(t, nil, "echo_server", "--iip-addr=127.0.0.1:0", "--http-addr=", "--adapter-addr=")
		addr := srv2.addrs("iip")[0]
		srv2.kill()
		c := start(t, strings.NewReader("x\n"), "echo_client", "--addr="+addr, "--timeout=2s")
		if err := c.wait(); err == nil {
			t.Fatal("echo_client succeeded against a dead server")
		}
	})

	srv.signal(syscall.SIGTERM)
	if err := srv.wait(); err != nil {
		t.Fatalf("echo_server after SIGTERM: %v; stderr:\n%s", err, srv.stderr.String())
	}
}

func TestEchoMutualTLS(t *testing.T) {
	t.Parallel()
	certs := newCerts(t)
	srv := start(t, nil, "echo_server", "--iip-addr=127.0.0.1:0", "--http-addr=127.0.0.1:0", "--adapter-addr=127.0.0.1:0",
		"--tls-cert="+certs.f.ServerCert, "--tls-key="+certs.f.ServerKey, "--client-ca="+certs.f.CA)
	addrs := srv.addrs("iip", "http", "adapter")

	tests := []struct {
		name string
		args []string
		ok   bool
	}{
		{"client certificate", []string{"--ca=" + certs.f.CA, "--cert=" + certs.f.ClientCert, "--key=" + certs.f.ClientKey}, true},
		{"server name given", []string{"--ca=" + certs.f.CA, "--cert=" + certs.f.ClientCert, "--key=" + certs.f.ClientKey, "--server-name=127.0.0.1"}, true},
		{"no client certificate", []string{"--ca=" + certs.f.CA}, false},
		{"unknown CA", []string{"--tls", "--cert=" + certs.f.ClientCert, "--key=" + certs.f.ClientKey}, false},
		{"wrong server name", []string{"--ca=" + certs.f.CA, "--cert=" + certs.f.ClientCert, "--key=" + certs.f.ClientKey, "--server-name=other.example"}, false},
		{"plain TCP", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--addr=" + addrs[0], "--timeout=5s"}, tc.args...)
			c := start(t, strings.NewReader("secret hello\n"), "echo_client", args...)
			err := c.wait()
			if tc.ok {
				if err != nil {
					t.Fatalf("echo_client: %v; stderr:\n%s", err, c.stderr.String())
				}
				if out := c.mustSucceed(); out != "secret hello\n" {
					t.Fatalf("got %q", out)
				}
			} else if err == nil {
				t.Fatal("echo_client succeeded")
			}
		})
	}

	t.Run("https echo_benchmark", func(t *testing.T) {
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: certs.Pool, Certificates: []tls.Certificate{certs.Client},
		}}}
		defer hc.CloseIdleConnections()
		if got := postEcho(t, hc, "https://"+addrs[1]+"/echo_benchmark", []byte("over TLS")); string(got) != "over TLS" {
			t.Fatalf("got %q", got)
		}
		if got := postEcho(t, hc, "https://"+addrs[2]+"/echo", []byte("adapter over TLS")); string(got) != "adapter over TLS" {
			t.Fatalf("adapter: got %q", got)
		}
		noCert := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certs.Pool}}}
		defer noCert.CloseIdleConnections()
		if resp, err := noCert.Post("https://"+addrs[2]+"/echo", "text/plain", strings.NewReader("x")); err == nil {
			resp.Body.Close()
			t.Fatalf("adapter answered %s to a client without certificate", resp.Status)
		}
	})
}
