package nap

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		h    frameHeader
		want []byte
	}{
		{"data", frameHeader{length: 5, streamID: 7, typ: frameData}, []byte{0, 0, 0, 5, 0, 0, 0, 7, 0, 0}},
		{"ping ack", frameHeader{typ: framePing, flags: flagPingAck}, []byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 1}},
		{"big values", frameHeader{length: 0x01020304, streamID: 0xfffffffe, typ: frameGoAway, flags: 0x80},
			[]byte{1, 2, 3, 4, 0xff, 0xff, 0xff, 0xfe, 5, 0x80}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := appendHeader(nil, tc.h)
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("appendHeader = % x, want % x", got, tc.want)
			}
			var b [headerSize]byte
			putHeader(b[:], tc.h)
			if !bytes.Equal(b[:], tc.want) {
				t.Fatalf("putHeader = % x", b)
			}
			if parseHeader(got) != tc.h {
				t.Fatalf("parseHeader = %+v", parseHeader(got))
			}
		})
	}
}

func TestCheckHeader(t *testing.T) {
	cases := []struct {
		name   string
		h      frameHeader
		legacy bool
		want   string // "" = valid
	}{
		{"data ok", frameHeader{length: 100, streamID: 1, typ: frameData, flags: flagDataMore}, false, ""},
		{"data too long", frameHeader{length: 9000000, streamID: 1, typ: frameData}, false, "frame length 9000000 exceeds limit 65536"},
		{"data stream 0", frameHeader{streamID: 0, typ: frameData}, false, "DATA frame on stream 0"},
		{"data more+end", frameHeader{streamID: 1, typ: frameData, flags: flagDataMore | flagDataEnd}, false, "both MORE and END_STREAM"},
		{"data unknown flag", frameHeader{streamID: 1, typ: frameData, flags: 0x8}, false, "unknown flags 0x8"},
		{"data SIZE without MORE", frameHeader{length: 8, streamID: 1, typ: frameData, flags: 0x4}, false, "SIZE needs MORE"},
		{"data SIZE too short", frameHeader{length: 3, streamID: 1, typ: frameData, flags: 0x5}, false, "SIZE needs MORE"},
		{"data stream id high bit", frameHeader{streamID: 0x80000001, typ: frameData}, false, "exceeds"},
		{"legacy data high id", frameHeader{streamID: 0x80000001, typ: frameData}, true, ""},
		{"legacy data flags", frameHeader{streamID: 1, typ: frameData, flags: 1}, true, "legacy DATA"},
		{"legacy settings", frameHeader{length: 2, typ: frameSettings}, true, "not allowed from a legacy peer"},
		{"ping on stream", frameHeader{streamID: 3, typ: framePing}, false, "PING frame on stream 3"},
		{"ping long", frameHeader{length: 9, typ: framePing}, false, "PING payload length 9"},
		{"ping ack", frameHeader{typ: framePing, flags: flagPingAck}, true, ""},
		{"settings ok", frameHeader{length: 2 + 6*5, typ: frameSettings}, false, ""},
		{"settings odd length", frameHeader{length: 7, typ: frameSettings}, false, "SETTINGS payload length 7"},
		{"settings huge", frameHeader{length: 0xffffffff, typ: frameSettings}, false, "SETTINGS payload length"},
		{"window update length", frameHeader{length: 5, typ: frameWindowUpdate}, false, "WINDOW_UPDATE payload length 5"},
		{"rst on 0", frameHeader{length: 4, typ: frameRstStream}, false, "RST_STREAM frame on stream 0"},
		{"goaway short", frameHeader{length: 4, typ: frameGoAway}, false, "GOAWAY payload length 4"},
		{"goaway long", frameHeader{length: 8 + maxGoAwayDebug + 1, typ: frameGoAway}, false, "GOAWAY payload length"},
		{"unknown type", frameHeader{typ: 0x42}, false, "unknown frame type 0x42"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkHeader(tc.h, DefaultMaxFrameSize, tc.legacy)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrProtocol) {
				t.Fatalf("error = %v, want ErrProtocol containing %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "nap: ") {
				t.Fatalf("error %q does not start with the package name", err)
			}
		})
	}
}

func TestSettingsParse(t *testing.T) {
	good := appendSettings(nil, settings{maxFrameSize: 2048, maxMessageSize: 10, maxConcurrentStreams: 3, streamWindow: 100, connWindow: 200, sizeHints: true})
	s, err := parseSettings(good[headerSize:])
	if err != nil || s != (settings{2048, 10, 3, 100, 200, true}) {
		t.Fatalf("parseSettings = %+v, %v", s, err)
	}
	entry := func(id uint16, v uint32) []byte {
		return []byte{0, 1, byte(id >> 8), byte(id), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
	}
	cases := []struct {
		name string
		p    []byte
		want string
	}{
		{"defaults when empty", []byte{0, 1}, ""},
		{"unknown id ignored", entry(0x99, 5), ""},
		{"bad version", []byte{0, 2}, "unsupported protocol version 2"},
		{"frame size too small", entry(settingMaxFrameSize, 10), "max frame size 10"},
		{"zero window", entry(settingStreamWindow, 0), "stream window 0"},
		{"window overflow", entry(settingConnWindow, 1<<31), "connection window 2147483648"},
		{"zero message size", entry(settingMaxMessageSize, 0), "max message size 0"},
		{"size hints 2", entry(settingSizeHints, 2), "size hints 2"},
		{"truncated", []byte{0, 1, 0}, "SETTINGS payload length 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseSettings(tc.p)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestControlPayloads(t *testing.T) {
	if _, err := parseWindowUpdate([]byte{0, 0, 0, 0}); err == nil || !strings.Contains(err.Error(), "increment 0") {
		t.Fatalf("zero increment: %v", err)
	}
	if _, err := parseWindowUpdate([]byte{0x80, 0, 0, 0}); err == nil {
		t.Fatal("increment 2^31 accepted")
	}
	f := appendGoAway(nil, 41, CodeProtocol, "why")
	last, code, debug, err := parseGoAway(f[headerSize:])
	if err != nil || last != 41 || code != CodeProtocol || debug != "why" {
		t.Fatalf("GOAWAY round trip: %d %v %q %v", last, code, debug, err)
	}
	f = appendRstStream(nil, 3, CodeCancel)
	if !bytes.Equal(f, []byte{0, 0, 0, 4, 0, 0, 0, 3, 4, 0, 0, 0, 0, 4}) {
		t.Fatalf("RST_STREAM = % x", f)
	}
	if long := appendGoAway(nil, 1, 0, strings.Repeat("x", 5000)); len(long) != headerSize+8+maxGoAwayDebug {
		t.Fatalf("GOAWAY debug not truncated: %d", len(long))
	}
}

func TestErrorCodeString(t *testing.T) {
	cases := map[ErrorCode]string{CodeCancel: "CANCEL", CodeStreamLimit: "STREAM_LIMIT", 0x1234: "CODE_0x1234"}
	for c, want := range cases {
		if c.String() != want {
			t.Errorf("%d.String() = %q, want %q", uint32(c), c.String(), want)
		}
	}
}

// FuzzFrameDecode feeds arbitrary bytes to the header decoder and the
// control-frame payload parsers: nothing may panic, every accepted header
// is within its limits, and accepted frames re-encode to the same bytes.
func FuzzFrameDecode(f *testing.F) {
	f.Add(rawFrame(0, 0, 7, []byte("hello")))
	f.Add(rawSettings())
	f.Add(appendWindowUpdate(nil, 3, 1000))
	f.Add(appendRstStream(nil, 5, CodeCancel))
	f.Add(appendGoAway(nil, 9, CodeProtocol, "bad"))
	f.Add(appendPing(nil, true, nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		for len(data) >= headerSize {
			h := parseHeader(data)
			if !bytes.Equal(appendHeader(nil, h), data[:headerSize]) {
				t.Fatalf("header does not round-trip: % x", data[:headerSize])
			}
			for _, legacy := range []bool{false, true} {
				err := checkHeader(h, DefaultMaxFrameSize, legacy)
				if err == nil && h.length > 8+maxGoAwayDebug && h.length > DefaultMaxFrameSize {
					t.Fatalf("accepted length %d", h.length)
				}
				if err != nil && !errors.Is(err, ErrProtocol) {
					t.Fatalf("error %v is not ErrProtocol", err)
				}
			}
			if checkHeader(h, DefaultMaxFrameSize, false) != nil {
				return
			}
			data = data[headerSize:]
			if uint32(len(data)) < h.length {
				return
			}
			p := data[:h.length]
			data = data[h.length:]
			switch h.typ {
			case frameSettings:
				if s, err := parseSettings(p); err == nil {
					again, err := parseSettings(appendSettings(nil, s)[headerSize:])
					if err != nil || again != s {
						t.Fatalf("settings round trip: %+v -> %+v, %v", s, again, err)
					}
				}
			case frameWindowUpdate:
				if v, err := parseWindowUpdate(p); err == nil {
					if !bytes.Equal(appendWindowUpdate(nil, h.streamID, v)[headerSize:], p) {
						t.Fatal("window update round trip")
					}
				}
			case frameRstStream:
				if c, err := parseRstStream(p); err == nil {
					if !bytes.Equal(appendRstStream(nil, h.streamID, c)[headerSize:], p) {
						t.Fatal("rst round trip")
					}
				}
			case frameGoAway:
				if last, code, debug, err := parseGoAway(p); err == nil {
					g := appendGoAway(nil, last, code, debug)
					if _, _, d2, err := parseGoAway(g[headerSize:]); err != nil || d2 != debug {
						t.Fatal("goaway round trip")
					}
				}
			}
		}
	})
}
