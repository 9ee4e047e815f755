package iip

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
)

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c chunkReader) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

// TestFrameReaderPayloadsStayIntact reads a stream of frames of every size
// class (copied out, shared with the read buffer, own allocation) through
// readers of several chunk sizes, keeps every payload, and checks at the
// end that none was overwritten by later reads.
func TestFrameReaderPayloadsStayIntact(t *testing.T) {
	const bufSize = 8192 // shared payloads are 512..4096 bytes
	sizes := []int{1, 2, 100, 511, 512, 600, 3000, 4096, 4097, 5000, 9000, 20000, 700, 4000, 4000, 4000, 1, 2500}
	var stream []byte
	var want [][]byte
	for i, n := range sizes {
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(i*31 + j*7)
		}
		path := fmt.Sprintf("/p%d?q=%d", i, n)
		stream = appendHeader(stream, statusRequest, path, uint32(i), n)
		stream = append(stream, data...)
		want = append(want, data)
	}
	readers := []struct {
		name string
		r    func() io.Reader
	}{
		{"whole", func() io.Reader { return bytes.NewReader(stream) }},
		{"one-byte", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) }},
		{"half", func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) }},
		{"chunks-1000", func() io.Reader { return chunkReader{bytes.NewReader(stream), 1000} }},
		{"chunks-7000", func() io.Reader { return chunkReader{bytes.NewReader(stream), 7000} }},
		{"data-err", func() io.Reader { return iotest.DataErrReader(bytes.NewReader(stream)) }},
	}
	for _, tc := range readers {
		t.Run(tc.name, func(t *testing.T) {
			fr := newFrameReader(tc.r(), bufSize)
			var got [][]byte
			for i, n := range sizes {
				h, err := fr.readHeader()
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if want := fmt.Sprintf("/p%d?q=%d", i, n); string(h.Path) != want || h.Channel != uint32(i) || int(h.Length) != n {
					t.Fatalf("frame %d: header %+v, want path %s, length %d", i, h, want, n)
				}
				data, err := fr.readPayload(int(h.Length))
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if len(data) != n || cap(data) != n {
					t.Fatalf("frame %d: len %d cap %d, want %d", i, len(data), cap(data), n)
				}
				got = append(got, data)
			}
			if _, err := fr.readHeader(); err != io.EOF {
				t.Fatalf("after the last frame: %v, want io.EOF", err)
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Errorf("payload %d (%d bytes) was changed by later reads", i, sizes[i])
				}
			}
		})
	}
}

// TestFrameReaderTruncated checks that a stream cut anywhere inside a frame
// ends with io.ErrUnexpectedEOF, and between frames with io.EOF.
func TestFrameReaderTruncated(t *testing.T) {
	frame := appendHeader(nil, statusRequest, "/echo", 1, 3000)
	frame = append(frame, bytes.Repeat([]byte("x"), 3000)...)
	for cut := 0; cut <= len(frame); cut += 97 {
		fr := newFrameReader(bytes.NewReader(frame[:cut]), 4096)
		h, err := fr.readHeader()
		if err == nil {
			_, err = fr.readPayload(int(h.Length))
		}
		want := io.ErrUnexpectedEOF
		if cut == 0 {
			want = io.EOF
		}
		if !errors.Is(err, want) {
			t.Fatalf("cut at %d: %v, want %v", cut, err, want)
		}
	}
}
