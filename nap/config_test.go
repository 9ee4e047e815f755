package nap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestVerifyConfig: zero fields and values within the documented ranges are valid; a value
// out of range is an error naming the field, never clamped.
func TestVerifyConfig(t *testing.T) {
	cases := []struct {
		name  string
		cfg   *Config
		field string // "" for valid
	}{
		{"nil", nil, ""},
		{"zero", &Config{}, ""},
		{"smallest frame", &Config{MaxFrameSize: MinFrameSize}, ""},
		{"largest frame", &Config{MaxFrameSize: MaxFrameSizeLimit}, ""},
		{"frame too small", &Config{MaxFrameSize: MinFrameSize - 1}, "MaxFrameSize"},
		{"frame too large", &Config{MaxFrameSize: MaxFrameSizeLimit + 1}, "MaxFrameSize"},
		{"negative frame", &Config{MaxFrameSize: -1}, "MaxFrameSize"},
		{"negative message size", &Config{MaxMessageSize: -1}, "MaxMessageSize"},
		{"message size over 2^31-1", &Config{MaxMessageSize: 1 << 31}, "MaxMessageSize"},
		{"negative stream limit", &Config{MaxConcurrentStreams: -5}, "MaxConcurrentStreams"},
		{"one-byte windows", &Config{StreamWindow: 1, ConnWindow: 1}, ""},
		{"stream window over 2^31-1", &Config{StreamWindow: 1 << 31}, "StreamWindow"},
		{"conn window below stream window", &Config{StreamWindow: 64 << 10, ConnWindow: 32 << 10}, "ConnWindow"},
		{"conn window defaults above a large stream window", &Config{StreamWindow: 8 << 20}, ""},
		{"negative keepalive interval disables", &Config{KeepAliveInterval: -1}, ""},
		{"negative keepalive timeout", &Config{KeepAliveTimeout: -time.Second}, "KeepAliveTimeout"},
		{"negative handshake timeout", &Config{HandshakeTimeout: -time.Second}, "HandshakeTimeout"},
		{"negative timeouts disable", &Config{WriteTimeout: -1, MinPingInterval: -1, IdleTimeout: -1}, ""},
		{"conn budget below one message", &Config{MaxConnBuffered: 1 << 20}, "MaxConnBuffered"},
		{"negative conn budget", &Config{MaxConnBuffered: -1}, "MaxConnBuffered"},
		{"conn budget of exactly one message", &Config{MaxConnBuffered: DefaultConnWindow + DefaultMaxMessageSize}, ""},
		{"negative server budget disables", &Config{MaxServerBuffered: -1}, ""},
		{"size-hint credit over the conn budget", &Config{SizeHintCredit: DefaultMaxConnBuffered + 1}, "SizeHintCredit"},
		{"negative size-hint credit disables", &Config{SizeHintCredit: -1}, ""},
		{"yield option", &Config{YieldToReader: true}, ""},
		{"eager credit option", &Config{EagerCredit: true}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyConfig(tc.cfg)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("VerifyConfig = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("VerifyConfig = %v, want an error wrapping ErrInvalidConfig", err)
			}
			if !strings.HasPrefix(err.Error(), "nap: invalid config: "+tc.field+" ") {
				t.Fatalf("VerifyConfig = %q, want it to name %s", err, tc.field)
			}
		})
	}
}

// TestConfigDefaults: zero fields take the documented defaults, including those derived
// from other fields.
func TestConfigDefaults(t *testing.T) {
	cases := []struct {
		name string
		cfg  *Config
		want func(config) error
	}{
		{"nil", nil, func(r config) error {
			if r.maxFrameSize != DefaultMaxFrameSize || r.maxMessageSize != DefaultMaxMessageSize ||
				r.maxConcurrentStreams != DefaultMaxConcurrentStreams || r.streamWindow != DefaultStreamWindow ||
				r.connWindow != DefaultConnWindow || r.maxConnBuffered != DefaultMaxConnBuffered ||
				r.sizeHintCredit != DefaultMaxConnBuffered/2 || r.serverBudget != DefaultMaxServerBuffered ||
				r.keepAliveInterval != DefaultKeepAliveInterval || r.keepAliveTimeout != DefaultKeepAliveTimeout ||
				r.handshakeTimeout != DefaultHandshakeTimeout || r.writeTimeout != DefaultWriteTimeout ||
				r.idleTimeout != DefaultIdleTimeout || r.minPingInterval != DefaultMinPingInterval ||
				!r.sizeHints || r.yieldToReader || r.logger == nil {
				return fmt.Errorf("resolved %+v", r)
			}
			return nil
		}},
		{"conn window follows a larger stream window", &Config{StreamWindow: 8 << 20}, func(r config) error {
			if r.connWindow != 8<<20 {
				return fmt.Errorf("connWindow %d, want 8 MiB", r.connWindow)
			}
			return nil
		}},
		{"conn budget holds one message", &Config{MaxMessageSize: 32 << 20}, func(r config) error {
			if want := int64(DefaultConnWindow + 32<<20); r.maxConnBuffered != want {
				return fmt.Errorf("maxConnBuffered %d, want %d", r.maxConnBuffered, want)
			}
			return nil
		}},
		{"ping interval follows a short keepalive", &Config{KeepAliveInterval: 200 * time.Millisecond}, func(r config) error {
			if r.minPingInterval != 100*time.Millisecond {
				return fmt.Errorf("minPingInterval %v, want 100ms", r.minPingInterval)
			}
			return nil
		}},
		{"negative server budget disables it", &Config{MaxServerBuffered: -1}, func(r config) error {
			if r.serverBudget != 0 {
				return fmt.Errorf("serverBudget %d, want 0", r.serverBudget)
			}
			return nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.cfg.resolve()
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.want(r); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestConstructorsVerifyConfig: every constructor returns VerifyConfig's error.
func TestConstructorsVerifyConfig(t *testing.T) {
	bad := &Config{MaxFrameSize: 1}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	cases := []struct {
		name string
		call func() error
	}{
		{"Dial", func() error { _, err := Dial(testCtx(t), "tcp", lis.Addr().String(), bad); return err }},
		{"Client", func() error { _, err := Client(a, bad); return err }},
		{"Server", func() error { _, err := Server(b, bad); return err }},
		{"Listen", func() error { _, err := Listen("tcp", "127.0.0.1:0", bad); return err }},
		{"NewListener", func() error { _, err := NewListener(lis, bad); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("%s = %v, want ErrInvalidConfig", tc.name, err)
			}
		})
	}
}

// TestYieldToReader runs the read loop's YieldToReader path at GOMAXPROCS 1 and 2: the
// messages arrive intact either way, the read loop yields only with the option on, and
// (a message of 16 KiB or more handed to a waiting Recv) it does yield with it on.
func TestYieldToReader(t *testing.T) {
	const (
		size = 64 << 10
		n    = 64
	)
	for _, procs := range []int{1, 2} {
		for _, yield := range []bool{false, true} {
			t.Run(fmt.Sprintf("GOMAXPROCS=%d/YieldToReader=%v", procs, yield), func(t *testing.T) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				c, s := pair(t, nil, &Config{YieldToReader: yield})
				got := make(chan error, 1)
				go func() {
					st, err := s.AcceptStream(testCtx(t))
					if err != nil {
						got <- err
						return
					}
					defer st.Close()
					for i := 0; ; i++ {
						m, err := st.Recv()
						if err == io.EOF {
							if i != n {
								err = fmt.Errorf("got %d messages, want %d", i, n)
							} else {
								err = nil
							}
							got <- err
							return
						}
						if err != nil {
							got <- err
							return
						}
						if len(m) != size || m[0] != byte(i) || m[size-1] != byte(i) {
							got <- fmt.Errorf("message %d: %d bytes starting with %d", i, len(m), m[0])
							return
						}
						st.Release(m)
					}
				}()
				st, err := c.OpenStream(testCtx(t))
				if err != nil {
					t.Fatal(err)
				}
				msg := make([]byte, size)
				for i := range n {
					msg[0], msg[size-1] = byte(i), byte(i)
					if err := st.Send(bytes.Clone(msg)); err != nil {
						t.Fatal(err)
					}
				}
				if err := st.CloseSend(); err != nil {
					t.Fatal(err)
				}
				select {
				case err := <-got:
					if err != nil {
						t.Fatal(err)
					}
				case <-testCtx(t).Done():
					t.Fatal("the server did not receive the messages")
				}
				yields := s.yields.Load()
				if !yield && yields != 0 {
					t.Fatalf("%d yields without YieldToReader", yields)
				}
				if yield && yields == 0 {
					t.Fatalf("no yield with YieldToReader over %d messages of %d bytes", n, size)
				}
				t.Logf("%d yields for %d messages", yields, n)
			})
		}
	}
}
