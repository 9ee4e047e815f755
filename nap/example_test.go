package nap_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/seed857a6cbd/pocket/nap"
)

// serveUpper is a tiny server: every stream gets its messages back in upper case.
func serveUpper(ln *nap.Listener) {
	for {
		sess, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer sess.Close()
			for {
				st, err := sess.AcceptStream(context.Background())
				if err != nil {
					return
				}
				go func() {
					defer st.Close()
					for {
						msg, err := st.Recv()
						if errors.Is(err, io.EOF) {
							st.CloseSend()
							return
						}
						if err != nil {
							return
						}
						st.Send([]byte(strings.ToUpper(string(msg))))
					}
				}()
			}
		}()
	}
}

// The shortest complete use: dial, open a stream, send, receive, shut down.
func Example() {
	ln, err := nap.Listen("tcp", "127.0.0.1:0", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go serveUpper(ln)

	ctx := context.Background()
	sess, err := nap.Dial(ctx, "tcp", ln.Addr().String(), nil)
	if err != nil {
		log.Fatal(err)
	}
	st, err := sess.OpenStream(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if err := st.SendAndClose([]byte("hello, nap")); err != nil {
		log.Fatal(err)
	}
	reply, err := st.Recv()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(reply))
	if err := sess.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output: HELLO, NAP
}

// A stream carries any number of messages each way; Recv returns io.EOF
// after the peer's CloseSend.
func ExampleStream_Recv() {
	ln, _ := nap.Listen("tcp", "127.0.0.1:0", nil)
	defer ln.Close()
	go serveUpper(ln)

	ctx := context.Background()
	sess, err := nap.Dial(ctx, "tcp", ln.Addr().String(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer sess.Close()
	st, _ := sess.OpenStream(ctx)
	for _, word := range []string{"one", "two", "three"} {
		st.Send([]byte(word))
	}
	st.CloseSend()
	for {
		msg, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(msg))
	}
	// Output:
	// ONE
	// TWO
	// THREE
}

// Errors say whether a call can be retried elsewhere: a stream that could
// not be opened never reached the peer, so it is retryable.
func ExampleIsRetryable() {
	ln, _ := nap.Listen("tcp", "127.0.0.1:0", nil)
	defer ln.Close()
	go serveUpper(ln)

	ctx := context.Background()
	sess, err := nap.Dial(ctx, "tcp", ln.Addr().String(), nil)
	if err != nil {
		log.Fatal(err)
	}
	sess.Shutdown(ctx)
	_, err = sess.OpenStream(ctx)
	fmt.Println(errors.Is(err, nap.ErrSessionClosed), nap.IsRetryable(err))

	var se *nap.StreamError
	reset := &nap.StreamError{StreamID: 3, Code: nap.CodeStreamLimit, Remote: true}
	fmt.Println(errors.As(error(reset), &se), nap.IsRetryable(reset), reset)
	// Output:
	// true true
	// true true nap: stream 3 reset by peer: STREAM_LIMIT
}

// A bulk receiver that is done with each message hands it back with
// Release, so the session reads the next large message into the same memory
// instead of allocating.
func ExampleStream_Release() {
	ln, err := nap.Listen("tcp", "127.0.0.1:0", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	total := make(chan int, 1)
	go func() {
		sess, err := ln.Accept()
		if err != nil {
			return
		}
		defer sess.Close()
		st, err := sess.AcceptStream(context.Background())
		if err != nil {
			return
		}
		n := 0
		for {
			chunk, err := st.Recv()
			if err != nil { // io.EOF after the sender's CloseSend
				total <- n
				return
			}
			n += len(chunk) // use the bytes (write them to a file, hash them ...)
			st.Release(chunk)
		}
	}()

	ctx := context.Background()
	sess, err := nap.Dial(ctx, "tcp", ln.Addr().String(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer sess.Close()
	st, err := sess.OpenStream(ctx)
	if err != nil {
		log.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for i := 0; i < 100; i++ {
		if err := st.Send(chunk); err != nil {
			log.Fatal(err)
		}
	}
	st.CloseSend()
	fmt.Println(<-total, "bytes received")
	// Output: 6553600 bytes received
}

// SendV sends a small envelope and a large payload as one message without
// first copying them into one buffer.
func ExampleStream_SendV() {
	ln, err := nap.Listen("tcp", "127.0.0.1:0", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		sess, err := ln.Accept()
		if err != nil {
			return
		}
		defer sess.Close()
		st, err := sess.AcceptStream(context.Background())
		if err != nil {
			return
		}
		msg, err := st.Recv()
		if err != nil {
			got <- err.Error()
			return
		}
		got <- fmt.Sprintf("%q + %d bytes", msg[:6], len(msg)-6)
		st.Release(msg)
		st.CloseSend()
	}()

	ctx := context.Background()
	sess, err := nap.Dial(ctx, "tcp", ln.Addr().String(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer sess.Close()
	st, err := sess.OpenStream(ctx)
	if err != nil {
		log.Fatal(err)
	}
	payload := make([]byte, 1<<20)
	if err := st.SendAndCloseV([]byte("image:"), payload); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-got)
	// Output: "image:" + 1048576 bytes
}

// ExampleVerifyConfig checks a configuration before use: values out of range are refused,
// not clamped.
func ExampleVerifyConfig() {
	err := nap.VerifyConfig(&nap.Config{MaxFrameSize: 512})
	fmt.Println(err)
	fmt.Println(errors.Is(err, nap.ErrInvalidConfig))
	fmt.Println(nap.VerifyConfig(&nap.Config{MaxFrameSize: 16 << 10, KeepAliveInterval: -1}))
	// Output:
	// nap: invalid config: MaxFrameSize is 512, want 0 (default 65536) or 1024 to 16777215
	// true
	// <nil>
}
