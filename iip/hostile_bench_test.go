package iip

import (
	"bytes"
	"context"
	"testing"
)

// BenchmarkHostileLargeFrameRead decodes one 16 MiB frame (the largest a
// frame may carry) from memory: the cost of growing the payload with what
// has arrived instead of allocating the declared length up front (issue
// #14 row 6).
func BenchmarkHostileLargeFrameRead(b *testing.B) {
	frame := appendHeader(nil, statusRequest, "/big", 1, MaxFrameData)
	frame = append(frame, make([]byte, MaxFrameData)...)
	b.SetBytes(MaxFrameData)
	b.ReportAllocs()
	for range b.N {
		fr := newFrameReader(bytes.NewReader(frame), DefaultReadBufferSize)
		h, err := fr.readHeader()
		if err != nil {
			b.Fatal(err)
		}
		data, err := fr.readPayload(int(h.Length))
		if err != nil || len(data) != MaxFrameData {
			b.Fatal(len(data), err)
		}
	}
}

// BenchmarkHostileLargeEcho echoes a 16 MiB message over loopback TCP
// (one frame each way; the client reads with the same frame reader).
func BenchmarkHostileLargeEcho(b *testing.B) {
	_, addr := echoServer(b)
	c := dialT(b, addr)
	ch, err := c.NewChannel(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	data := bytes.Repeat([]byte{'x'}, MaxFrameData-1)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		resp, err := ch.Do(context.Background(), "/echo", data)
		if err != nil || len(resp) != len(data) {
			b.Fatal(len(resp), err)
		}
	}
}
