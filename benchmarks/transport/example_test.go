package transport_test

import (
	"bytes"
	"fmt"
	"net"

	"github.com/seed857a6cbd/pocket/benchmarks/transport"
)

// Example serves the benchmark protocol with yamux on loopback and makes one echo call.
func Example() {
	t, err := transport.Lookup("yamux")
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv, err := t.Serve(ln)
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	sess, err := t.Dial(ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer sess.Close()
	st, err := sess.Open(transport.Echo)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	resp := make([]byte, 5)
	if err := st.Echo([]byte("hello"), resp); err != nil {
		panic(err)
	}
	fmt.Println(bytes.Equal(resp, []byte("hello")))
	// Output: true
}
