package dora_test

import (
	"errors"
	"net"
	"testing"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/nap"
)

// TestServerRefusesInvalidNapConfig: a nap configuration out of range (nap.VerifyConfig)
// makes Serve fail at once, nothing clamped.
func TestServerRefusesInvalidNapConfig(t *testing.T) {
	cases := []struct {
		name string
		opt  dora.ServerOption
	}{
		{"ServerNapConfig", dora.ServerNapConfig(nap.Config{MaxFrameSize: 10})},
		{"MaxRecvMsgSize", dora.MaxRecvMsgSize(-1)},
		{"MaxConcurrentCalls", dora.MaxConcurrentCalls(-1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := dora.NewServer(dora.ServerLogger(quietLogger), tc.opt)
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Serve(lis); !errors.Is(err, nap.ErrInvalidConfig) {
				t.Fatalf("Serve = %v, want nap.ErrInvalidConfig", err)
			}
		})
	}
}
