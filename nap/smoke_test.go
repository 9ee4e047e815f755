package nap

import (
	"context"
	"io"
	"testing"
)

func TestSmoke(t *testing.T) {
	ln, err := Listen("tcp", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		s, err := ln.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		for {
			st, err := s.AcceptStream(context.Background())
			if err != nil {
				return
			}
			go func() {
				m, err := st.Recv()
				if err != nil {
					t.Error(err)
					return
				}
				st.SendAndClose(m)
			}()
		}
	}()
	c, err := Dial(context.Background(), "tcp", ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, n := range []int{0, 1, 1000, 100000, 3 << 20} {
		st, err := c.OpenStream(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		msg := make([]byte, n)
		for i := range msg {
			msg[i] = byte(i)
		}
		if err := st.SendAndClose(msg); err != nil {
			t.Fatal(err)
		}
		got, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(msg) {
			t.Fatalf("n=%d mismatch", n)
		}
		if _, err := st.Recv(); err != io.EOF {
			t.Fatalf("want EOF, got %v", err)
		}
	}
}
