package filetransfer_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/examples/filetransfer"
	"github.com/seed857a6cbd/pocket/examples/internal/testkit"
	"github.com/seed857a6cbd/pocket/iip"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

// quiet discards the logs of servers and retries.
var quiet = slog.New(slog.DiscardHandler)

// serve starts an IIP server on loopback with register's handlers and
// returns a pooled client to it; both are closed at the end of the test.
func serve(t testing.TB, register func(*iip.Server)) *iip.Client {
	t.Helper()
	srv, err := iip.NewServer(iip.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	register(srv)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	c, err := iip.NewClient(testContext(t), l.Addr().String(), iip.WithLogger(quiet), iip.WithPool(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		srv.Close()
		<-served
	})
	return c
}

func fileServer(t testing.TB, dir string) *iip.Client {
	t.Helper()
	fs, err := filetransfer.NewFileServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	return serve(t, fs.Register)
}

func uploadServer(t testing.TB, dir string) (*filetransfer.UploadServer, *iip.Client) {
	t.Helper()
	us, err := filetransfer.NewUploadServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { us.Close() })
	return us, serve(t, us.Register)
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
