package e2e

// Hostile-peer test of issue #14 row 17 ("example echo server with --client-ca also serves the
// same handlers on a plain iip-internal loopback listener, so any local process skips mutual
// TLS"), against the built echo_server binary, attacked from raw TCP connections.

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/iip"
)

// newChannelFrame is the IIP request /sys/new_channel on channel 0 with data {}, byte by
// byte (iip/PROTOCOL.md §1).
func newChannelFrame() []byte {
	b := append([]byte{1}, "/sys/new_channel\x00"...)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, 2)
	return append(b, "{}"...)
}

// plainIIPAnswers sends a plain-TCP /sys/new_channel to addr and reports whether an IIP
// response frame (status 5) came back before the server closed the connection.
func plainIIPAnswers(t *testing.T, addr string) bool {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(newChannelFrame()); err != nil {
		return false
	}
	first, err := bufio.NewReader(c).ReadByte()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s neither answered nor closed the connection within %v", addr, waitTimeout)
		}
		return false // closed: EOF or reset
	}
	return first == 5
}

// vmRSS returns the resident set size of pid in bytes (/proc/PID/status VmRSS), or -1.
func vmRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return -1
}

// TestHostileInternalListener is issue #14 row 17: with --client-ca, the adapter's internal
// IIP listener speaks mutual TLS with an in-memory key, so a local process gets no IIP answer
// from it over plain TCP, nor over TLS with a certificate the public --client-ca signed; the
// adapter works through it. Only --insecure-internal-iip makes it plain, with a warning.
func TestHostileInternalListener(t *testing.T) {
	t.Parallel()
	certs := newCerts(t)
	tlsArgs := []string{"--iip-addr=127.0.0.1:0", "--http-addr=", "--adapter-addr=127.0.0.1:0",
		"--tls-cert=" + certs.f.ServerCert, "--tls-key=" + certs.f.ServerKey, "--client-ca=" + certs.f.CA}
	srv := start(t, nil, "echo_server", tlsArgs...)
	addrs := srv.addrs("iip", "iip-internal", "adapter")
	internal := addrs[1]

	for i := range 20 {
		if plainIIPAnswers(t, internal) {
			t.Fatalf("attempt %d: iip-internal %s answered plain IIP: mutual TLS bypassed", i, internal)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	// A client certificate the public CA signed opens the public listener, not the internal one.
	for _, tc := range []struct {
		addr string
		ok   bool
	}{{addrs[0], true}, {internal, false}} {
		c, err := iip.Dial(ctx, tc.addr, iip.WithLogger(slog.New(slog.DiscardHandler)), iip.WithDialTimeout(5*time.Second), iip.WithTLS(&tls.Config{
			InsecureSkipVerify: tc.addr == internal, // the attacker does not care who the server is
			RootCAs:            certs.Pool, Certificates: []tls.Certificate{certs.Client},
		}))
		if err == nil {
			_, err = c.Do(ctx, "/echo", []byte("x"))
			c.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("%s with the --client-ca certificate: err %v, want success %v", tc.addr, err, tc.ok)
		}
	}
	// The adapter, the internal listener's only client, still works.
	hc := &http.Client{Timeout: waitTimeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: certs.Pool, Certificates: []tls.Certificate{certs.Client},
	}}}
	defer hc.CloseIdleConnections()
	if got := postEcho(t, hc, "https://"+addrs[2]+"/echo", []byte("through the adapter")); string(got) != "through the adapter" {
		t.Fatalf("adapter: got %q", got)
	}
	if rss := vmRSS(srv.cmd.Process.Pid); rss > 128<<20 {
		t.Errorf("echo_server VmRSS %.1f MiB, over the budget of 128 MiB", float64(rss)/(1<<20))
	} else {
		t.Logf("echo_server VmRSS %.1f MiB (budget 128 MiB)", float64(rss)/(1<<20))
	}
	if srv.exited() {
		t.Fatalf("echo_server exited: %v", srv.wait())
	}

	t.Run("insecure-internal-iip", func(t *testing.T) {
		insecure := start(t, nil, "echo_server", append(tlsArgs, "--insecure-internal-iip")...)
		internal := insecure.addrs("iip", "iip-internal", "adapter")[1]
		if !plainIIPAnswers(t, internal) {
			t.Fatalf("with --insecure-internal-iip, iip-internal %s does not answer plain IIP", internal)
		}
		insecure.kill()
		if !strings.Contains(insecure.stderr.String(), "insecure-internal-iip") {
			t.Errorf("no warning naming --insecure-internal-iip on stderr:\n%s", insecure.stderr.String())
		}
	})
}
