package kvclient_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
)

func TestCodeOf(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		err  error
		want kvclient.Code
	}{
		{"nil", nil, kvclient.CodeOK},
		{"status error", kvclient.Errorf(kvclient.CodeKeyNotExist, "no"), kvclient.CodeKeyNotExist},
		{"wrapped status error", fmt.Errorf("read: %w", kvclient.Errorf(kvclient.CodeUnauthenticated, "x")), kvclient.CodeUnauthenticated},
		{"deadline", context.DeadlineExceeded, kvclient.CodeDeadlineExceeded},
		{"canceled", canceled.Err(), kvclient.CodeCanceled},
		{"plain error", errors.New("boom"), kvclient.CodeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kvclient.CodeOf(tt.err); got != tt.want {
				t.Fatalf("CodeOf(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorIsAndString(t *testing.T) {
	err := fmt.Errorf("login: %w", kvclient.Errorf(kvclient.CodeIncorrectUsernameOrPassword, "incorrect username or password"))
	if !errors.Is(err, kvclient.ErrIncorrectUsernameOrPassword) {
		t.Fatalf("errors.Is(%v, ErrIncorrectUsernameOrPassword) = false", err)
	}
	if errors.Is(err, kvclient.ErrUnauthenticated) {
		t.Fatalf("errors.Is(%v, ErrUnauthenticated) = true", err)
	}
	if got, want := err.Error(), "login: kvclient: INCORRECT_USERNAME_OR_PASSWORD: incorrect username or password"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if got := kvclient.ErrKeyNotExist.Error(); got != "kvclient: KEY_NOT_EXIST" {
		t.Fatalf("bare Error() = %q", got)
	}
	tests := map[kvclient.Code]string{
		kvclient.CodeOK: "OK", kvclient.CodeUnauthenticated: "UNAUTHENTICATED",
		kvclient.CodeResourceExhausted: "RESOURCE_EXHAUSTED", kvclient.CodeKeyNotExist: "KEY_NOT_EXIST",
		kvclient.Code(77): "CODE(77)",
	}
	for c, want := range tests {
		if got := c.String(); got != want {
			t.Errorf("Code(%d).String() = %q, want %q", int(c), got, want)
		}
	}
}

func TestParseEndpoints(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []kvclient.Endpoint
		wantErr string
	}{
		{name: "one address", in: "127.0.0.1:7000", want: []kvclient.Endpoint{{"127.0.0.1:7000", 1}}},
		{name: "weighted list", in: "127.0.0.1:7000#3, 127.0.0.1:7001#1,localhost:7002",
			want: []kvclient.Endpoint{{"127.0.0.1:7000", 3}, {"127.0.0.1:7001", 1}, {"localhost:7002", 1}}},
		{name: "ipv6", in: "[::1]:7000#2", want: []kvclient.Endpoint{{"[::1]:7000", 2}}},
		{name: "largest weight", in: "127.0.0.1:7000#100", want: []kvclient.Endpoint{{"127.0.0.1:7000", 100}}},
		{name: "weight too large", in: "127.0.0.1:7000#101", wantErr: `entry 1 "127.0.0.1:7000#101": weight "101" is not an integer 1-100`},
		// Deployed configurations: an empty host is localhost, repeats add their weights.
		{name: "deployed list", in: ":9090#1,:9090#1,:9090#1", want: []kvclient.Endpoint{{"localhost:9090", 3}}},
		{name: "empty host", in: ":7000", want: []kvclient.Endpoint{{"localhost:7000", 1}}},
		{name: "repeats add up", in: "127.0.0.1:7000#2, 127.0.0.1:7001, 127.0.0.1:7000",
			want: []kvclient.Endpoint{{"127.0.0.1:7000", 3}, {"127.0.0.1:7001", 1}}},
		{name: "repeats over the limit", in: "a:1#60,a:1#41", wantErr: `entry 2 "a:1#41": repeats of a:1 add up to weight 101, over 100`},
		{name: "lb prefix", in: "lb:///127.0.0.1:7000#2", want: []kvclient.Endpoint{{"127.0.0.1:7000", 2}}},
		{name: "empty", in: " ", wantErr: "kvclient: bad server address: empty target"},
		{name: "empty entry", in: "127.0.0.1:7000,,127.0.0.1:7001", wantErr: `entry 2 "": empty entry`},
		{name: "no port", in: "127.0.0.1", wantErr: `entry 1 "127.0.0.1": address "127.0.0.1" is not host:port`},
		{name: "bad port", in: "127.0.0.1:http", wantErr: `port "http" is not a number 1-65535`},
		{name: "port zero", in: "127.0.0.1:0", wantErr: `port "0" is not a number 1-65535`},
		{name: "garbage", in: "not an address", wantErr: `entry 1 "not an address": address "not an address" is not host:port`},
		{name: "host with a slash", in: "http://x:1", wantErr: `entry 1 "http://x:1"`},
		{name: "zero weight", in: "127.0.0.1:7000#0", wantErr: `weight "0" is not an integer 1-100`},
		{name: "bad weight", in: "127.0.0.1:7000#x", wantErr: `weight "x" is not an integer 1-100`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := kvclient.ParseEndpoints(tt.in)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, kvclient.ErrBadEndpoint) || !contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseEndpoints(%q) error = %v, want one wrapping ErrBadEndpoint containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseEndpoints(%q): %v", tt.in, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("ParseEndpoints(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
