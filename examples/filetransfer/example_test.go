package filetransfer_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/seed857a6cbd/pocket/examples/filetransfer"
	"github.com/seed857a6cbd/pocket/iip"
)

// Example downloads a file from a FileServer and uploads it back to an
// UploadServer, both served by one IIP server on loopback.
func Example() {
	served, _ := os.MkdirTemp("", "served-")
	uploads, _ := os.MkdirTemp("", "uploads-")
	local, _ := os.MkdirTemp("", "local-")
	defer os.RemoveAll(served)
	defer os.RemoveAll(uploads)
	defer os.RemoveAll(local)
	_ = os.WriteFile(filepath.Join(served, "hello.txt"), []byte("hello, resumable world\n"), 0o644)

	log := slog.New(slog.DiscardHandler)
	srv, err := iip.NewServer(iip.WithLogger(log))
	if err != nil {
		panic(err)
	}
	fs, _ := filetransfer.NewFileServer(served)
	defer fs.Close()
	fs.Register(srv)
	us, _ := filetransfer.NewUploadServer(uploads)
	defer us.Close()
	us.Register(srv)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := iip.NewClient(ctx, l.Addr().String(), iip.WithLogger(log))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	dest := filepath.Join(local, "hello.txt")
	res, err := filetransfer.Download(ctx, client, "hello.txt", dest, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("downloaded", res.Size, "bytes, sha256", res.SHA256[:12])

	res, err = filetransfer.Upload(ctx, client, dest, "copy.txt", &filetransfer.Options{ChunkSize: 8})
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := os.ReadFile(filepath.Join(uploads, "copy.txt"))
	fmt.Printf("uploaded %d bytes: %s", res.Sent, b)
	// Output:
	// downloaded 23 bytes, sha256 a28d0a952166
	// uploaded 23 bytes: hello, resumable world
}
