package dora

import (
	"io"
	"log/slog"
	"testing"

	"github.com/seed857a6cbd/pocket/dora/wirepb"
)

// BenchmarkReplyBudget measures what the reply budgets add to every reply that fits
// (the fast path: two reservations and two returns), alone and with every goroutine
// sharing the server's budget.
func BenchmarkReplyBudget(b *testing.B) {
	s := NewServer(WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	newCall := func() *serverCall {
		return &serverCall{srv: s, conn: s.newConnState(nil)}
	}
	b.Run("serial", func(b *testing.B) {
		c := newCall()
		b.ReportAllocs()
		for b.Loop() {
			if !c.tryTakeReply(1100) {
				b.Fatal("no budget")
			}
			c.giveReply(1100, true)
		}
	})
	// sizeHint sizes a proto reply before it is encoded (proto.Size): here a message
	// with a 1 KiB bytes field and a string, like the echo benchmark's response.
	b.Run("sizeHint-1KiB", func(b *testing.B) {
		m := &wirepb.Pkg{Head: &wirepb.Head{Method: "hello"}, Payload: make([]byte, 1024)}
		b.ReportAllocs()
		for b.Loop() {
			if sizeHint(protoCodec, m) < 1024 {
				b.Fatal("size")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			c := newCall() // a connection per goroutine, one server
			for pb.Next() {
				if !c.tryTakeReply(1100) {
					b.Fatal("no budget")
				}
				c.giveReply(1100, true)
			}
		})
	})
}
