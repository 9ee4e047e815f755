package kvclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"
)

// ErrNoTransport is returned by Dial while the dora transport to etserver is not built into
// this binary.
var ErrNoTransport = errors.New("kvclient: no transport: the dora client for etserver is not built in yet")

// Options configure Dial. The zero value of each field means its default.
type Options struct {
	// Endpoints are the etserver instances; with more than one, calls are balanced over them
	// by weight (lbclient) and an instance that is down is skipped. Default: DefaultServer.
	Endpoints []Endpoint
	// DialTimeout bounds connecting to one instance. Default: no bound beyond the context.
	DialTimeout time.Duration
	// TLS, when non-nil, makes every connection TLS with this configuration (set
	// Certificates for mutual TLS). Default: plain TCP.
	TLS *tls.Config
}

// Dial connects to etserver and returns a Client.
//
// The dora transport is not built in yet: Dial validates opts and returns an error wrapping
// ErrNoTransport.
func Dial(ctx context.Context, opts Options) (Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kvclient: dial: %w", err)
	}
	for _, ep := range opts.Endpoints {
		if ep.Addr == "" || ep.Weight < 0 {
			return nil, fmt.Errorf("%w: %+v", ErrBadEndpoint, ep)
		}
	}
	return nil, ErrNoTransport
}
