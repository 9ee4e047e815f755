package e2e

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/seed857a6cbd/pocket/examples/internal/testkit"
)

const (
	// transferSize of the transferred file: multi-megabyte, modest enough
	// for a loaded machine.
	transferSize = 24 << 20
	// killAt is how much must have arrived before a process is killed.
	killAt    = 1 << 20
	chunkFlag = "--chunk-size=256KiB"
	// A killed client's run only lasts until the kill: throttle it hard,
	// so that the kill lands long before the end (23 MiB at 4 MiB/s leave
	// almost six seconds) however slowly the test gets to run.
	clientKillRate = "--rate-limit=4MiB"
	// When the server is killed the same client goes on to the end:
	// 23 MiB at 8 MiB/s leave about three seconds.
	serverKillRate = "--rate-limit=8MiB"
)

// randomFile writes transferSize pseudo-random bytes to dir/name and returns them.
func randomFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b := make([]byte, transferSize)
	r := rand.NewChaCha8([32]byte{byte(len(name)), 42})
	_, _ = r.Read(b)
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

func sameBytes(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes differ from the %d sent", path, len(got), len(want))
	}
	if _, err := os.Stat(path + ".part"); !os.IsNotExist(err) {
		t.Fatalf("%s.part still exists (%v)", path, err)
	}
}

var resumedRE = regexp.MustCompile(`\((\d+) resumed, (\d+) transferred\)`)

// resumed returns the resumed and transferred counts of a client's report.
func resumed(t *testing.T, out string) (int64, int64) {
	t.Helper()
	m := resumedRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no resume figures in %q", out)
	}
	r, _ := strconv.ParseInt(m[1], 10, 64)
	s, _ := strconv.ParseInt(m[2], 10, 64)
	return r, s
}

func TestDownloadClientKilled(t *testing.T) {
	t.Parallel()
	root, out := t.TempDir(), t.TempDir()
	want := randomFile(t, root, "big.bin")
	srv := start(t, nil, "file_server", "--addr=127.0.0.1:0", "--root="+root)
	addr := srv.addrs("iip")[0]
	dest := filepath.Join(out, "big.bin")

	c1 := start(t, nil, "file_client", "-q", "--addr="+addr, chunkFlag, clientKillRate, "big.bin", dest)
	testkit.WaitFor(t, testkit.Context(t, waitTimeout), "the download's .part to grow", func() bool { return c1.running() && fileSize(dest+".part") >= killAt })
	c1.kill()
	part := fileSize(dest + ".part")
	if part >= transferSize || fileSize(dest) != -1 {
		t.Fatalf("killed client left .part of %d bytes and dest of %d: the kill came too late", part, fileSize(dest))
	}

	c2 := start(t, nil, "file_client", "-q", "--addr="+addr, "big.bin", dest)
	r, s := resumed(t, c2.mustSucceed())
	if r != part || r+s != transferSize {
		t.Fatalf("second run resumed %d and transferred %d; .part had %d", r, s, part)
	}
	sameBytes(t, dest, want)
}

func TestDownloadServerKilled(t *testing.T) {
	t.Parallel()
	root, out := t.TempDir(), t.TempDir()
	want := randomFile(t, root, "big.bin")
	srv := start(t, nil, "file_server", "--addr=127.0.0.1:0", "--root="+root)
	addr := srv.addrs("iip")[0]
	dest := filepath.Join(out, "big.bin")

	c := start(t, nil, "file_client", "-q", "--addr="+addr, chunkFlag, serverKillRate, "big.bin", dest)
	testkit.WaitFor(t, testkit.Context(t, waitTimeout), "the download's .part to grow", func() bool { return c.running() && fileSize(dest+".part") >= killAt })
	srv.kill()
	if fileSize(dest) != -1 {
		t.Fatal("the download completed before the kill")
	}
	c.Stderr.WaitContains(t, testkit.Context(t, waitTimeout), "filetransfer: retrying")
	// The same address again: the client keeps retrying it.
	srv2 := start(t, nil, "file_server", "--addr="+addr, "--root="+root)
	srv2.addrs("iip")
	r, s := resumed(t, c.mustSucceed())
	if r != 0 || s != transferSize {
		t.Fatalf("resumed %d, transferred %d", r, s)
	}
	sameBytes(t, dest, want)
}

func TestUploadClientKilled(t *testing.T) {
	t.Parallel()
	root, src := t.TempDir(), t.TempDir()
	want := randomFile(t, src, "big.bin")
	srv := start(t, nil, "upload_server", "--addr=127.0.0.1:0", "--root="+root)
	addr := srv.addrs("iip")[0]
	stored := filepath.Join(root, "big.bin")

	c1 := start(t, nil, "upload_client", "-q", "--addr="+addr, chunkFlag, clientKillRate, filepath.Join(src, "big.bin"))
	testkit.WaitFor(t, testkit.Context(t, waitTimeout), "the server's .part to grow", func() bool { return c1.running() && fileSize(stored+".part") >= killAt })
	c1.kill()
	// The write in flight when the client died may still land: read the
	// server's size through the second run's report instead.
	if fileSize(stored) != -1 {
		t.Fatal("the upload completed before the kill")
	}

	c2 := start(t, nil, "upload_client", "-q", "--addr="+addr, filepath.Join(src, "big.bin"))
	r, s := resumed(t, c2.mustSucceed())
	if r < killAt || r+s != transferSize {
		t.Fatalf("second run resumed %d and transferred %d", r, s)
	}
	sameBytes(t, stored, want)

	// A third run finds the complete file and sends nothing.
	c3 := start(t, nil, "upload_client", "-q", "--addr="+addr, filepath.Join(src, "big.bin"))
	if r, s := resumed(t, c3.mustSucceed()); r != transferSize || s != 0 {
		t.Fatalf("third run resumed %d and transferred %d", r, s)
	}
}

func TestUploadServerKilled(t *testing.T) {
	t.Parallel()
	root, src := t.TempDir(), t.TempDir()
	want := randomFile(t, src, "big.bin")
	srv := start(t, nil, "upload_server", "--addr=127.0.0.1:0", "--root="+root)
	addr := srv.addrs("iip")[0]
	stored := filepath.Join(root, "big.bin")

	c := start(t, nil, "upload_client", "-q", "--addr="+addr, chunkFlag, serverKillRate, filepath.Join(src, "big.bin"), "big.bin")
	testkit.WaitFor(t, testkit.Context(t, waitTimeout), "the server's .part to grow", func() bool { return c.running() && fileSize(stored+".part") >= killAt })
	srv.kill()
	if fileSize(stored) != -1 {
		t.Fatal("the upload completed before the kill")
	}
	c.Stderr.WaitContains(t, testkit.Context(t, waitTimeout), "filetransfer: retrying")
	srv2 := start(t, nil, "upload_server", "--addr="+addr, "--root="+root)
	srv2.addrs("iip")
	r, s := resumed(t, c.mustSucceed())
	if r != 0 || s < transferSize {
		t.Fatalf("resumed %d, transferred %d", r, s)
	}
	sameBytes(t, stored, want)
}

func TestFileServerRefusesEscapes(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(parent, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(parent, "secret"), filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	srv := start(t, nil, "file_server", "--addr=127.0.0.1:0", "--root="+root)
	addr := srv.addrs("iip")[0]
	for _, tc := range []struct{ name, remote string }{
		{"dotdot", "../secret"},
		{"absolute", filepath.Join(parent, "secret")},
		{"symlink out", "link"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "got")
			c := start(t, nil, "file_client", "-q", "--retry-timeout=-1s", "--addr="+addr, tc.remote, dest)
			if err := c.wait(); err == nil {
				t.Fatalf("downloading %q succeeded", tc.remote)
			}
			if fileSize(dest) != -1 {
				t.Fatalf("%s was created", dest)
			}
		})
	}

	srv.signal(syscall.SIGINT)
	if err := srv.wait(); err != nil {
		t.Fatalf("file_server after SIGINT: %v", err)
	}
}

func TestTransfersOverMutualTLS(t *testing.T) {
	t.Parallel()
	certs := newCerts(t)
	serverTLS := []string{"--tls-cert=" + certs.f.ServerCert, "--tls-key=" + certs.f.ServerKey, "--client-ca=" + certs.f.CA}
	clientTLS := []string{"--ca=" + certs.f.CA, "--cert=" + certs.f.ClientCert, "--key=" + certs.f.ClientKey}
	content := []byte(strings.Repeat("over mutual TLS\n", 40_000)) // 640,000 bytes
	root, uploads, local := t.TempDir(), t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f.txt"), content, 0o644); err != nil {
		t.Fatal(err)
	}

	fsrv := start(t, nil, "file_server", append([]string{"--addr=127.0.0.1:0", "--root=" + root}, serverTLS...)...)
	faddr := fsrv.addrs("iip")[0]
	dest := filepath.Join(local, "f.txt")
	start(t, nil, "file_client", append(append([]string{"-q", "--addr=" + faddr, "--chunk-size=64KiB"}, clientTLS...), "f.txt", dest)...).mustSucceed()
	sameBytes(t, dest, content)

	usrv := start(t, nil, "upload_server", append([]string{"--addr=127.0.0.1:0", "--root=" + uploads}, serverTLS...)...)
	uaddr := usrv.addrs("iip")[0]
	start(t, nil, "upload_client", append(append([]string{"-q", "--addr=" + uaddr, "--chunk-size=64KiB"}, clientTLS...), dest, "copy.txt")...).mustSucceed()
	sameBytes(t, filepath.Join(uploads, "copy.txt"), content)

	// Without a client certificate the handshake fails and nothing moves.
	c := start(t, nil, "file_client", "-q", "--retry-timeout=-1s", "--addr="+faddr, "--ca="+certs.f.CA, "f.txt", filepath.Join(local, "no.txt"))
	if err := c.wait(); err == nil {
		t.Fatal("download without a client certificate succeeded")
	}
}
