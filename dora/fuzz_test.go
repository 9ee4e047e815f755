package dora_test

import (
	"io"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/wirepb"
	"github.com/seed857a6cbd/pocket/nap"
)

// FuzzServerPkg sends arbitrary bytes as the first message of a call to a real server over
// loopback and checks that every input gets a well-formed answer ending in a status, and
// that the server keeps serving.
func FuzzServerPkg(f *testing.F) {
	ts := startServer(f, nil)
	sess, err := nap.Dial(testCtx(f), "tcp", ts.addr, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { sess.Close() })
	say, _ := proto.Marshal(&echo.SayRequest{Text: "hi"})
	count, _ := proto.Marshal(&echo.CountRequest{From: 1, To: 3})
	seeds := []*wirepb.Pkg{
		{Head: &wirepb.Head{Version: 1, Method: echo.Echo_Say_FullMethodName, TimeoutUs: 1000000}, Payload: say},
		{Head: &wirepb.Head{Method: "Say", Meta: map[string]string{"token": "t"}}, Payload: say},
		{Head: &wirepb.Head{Version: 1, SerializeType: "json", Method: echo.Echo_Say_FullMethodName}, Payload: []byte(`{"text":"j"}`)},
		{Head: &wirepb.Head{Version: 1, Method: echo.Echo_Count_FullMethodName, Kind: wirepb.Kind_KIND_OPEN}},
		{Head: &wirepb.Head{Version: 1, Method: echo.Echo_Chat_FullMethodName, Kind: wirepb.Kind_KIND_OPEN}},
		{Head: &wirepb.Head{Version: 1, Method: echo.Echo_Say_FullMethodName, Meta: map[string]string{"dora-status": "5"}}, Payload: count},
	}
	for _, s := range seeds {
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := sess.OpenStream(testCtx(t))
		if err != nil {
			t.Fatalf("OpenStream: %v (the server closed the session?)", err)
		}
		defer st.Close()
		if err := st.SendAndClose(b); err != nil {
			t.Fatalf("SendAndClose: %v", err)
		}
		var last *wirepb.Pkg
		for {
			msg, err := st.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Recv: %v", err)
			}
			p := new(wirepb.Pkg)
			if err := proto.Unmarshal(msg, p); err != nil {
				t.Fatalf("answer does not decode: %v", err)
			}
			last = p
		}
		if last == nil {
			t.Fatal("no answer")
		}
		if k := last.GetHead().GetKind(); k != wirepb.Kind_KIND_UNARY && k != wirepb.Kind_KIND_TRAILER {
			t.Fatalf("last Pkg has kind %v", k)
		}
		if s, ok := last.GetHead().GetMeta()["dora-status"]; ok {
			if _, err := strconv.ParseUint(s, 10, 32); err != nil {
				t.Fatalf("dora-status %q", s)
			}
		}
	})
}
