package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/metadata"
)

// dial returns a client for addr with the TLS flags applied. dora clients dial lazily: a
// server that is down shows as Unavailable on the first call.
func dial(o *options, addr string) (*dora.Client, error) {
	opts := []dora.ClientOption{dora.WithDialTimeout(o.timeout), dora.WithMaxConns(1)}
	if o.useTLS() {
		cfg, err := tlsConfig(o, addr)
		if err != nil {
			return nil, err
		}
		opts = append(opts, dora.WithTLS(cfg))
	}
	return dora.NewClient(addr, opts...)
}

func tlsConfig(o *options, addr string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: o.serverName, InsecureSkipVerify: o.insecure, MinVersion: tls.VersionTLS12}
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		cfg.ServerName = host
	}
	if o.cacert != "" {
		pem, err := os.ReadFile(o.cacert)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert: no PEM certificate in %s", o.cacert)
		}
		cfg.RootCAs = pool
	}
	if o.cert != "" {
		pair, err := tls.LoadX509KeyPair(o.cert, o.key)
		if err != nil {
			return nil, fmt.Errorf("--cert/--key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// requestMD turns the -H flags into metadata.
func requestMD(o *options) (metadata.MD, error) {
	if len(o.headers) == 0 {
		return nil, nil
	}
	md := metadata.MD{}
	for _, h := range o.headers {
		k, v, ok := strings.Cut(h, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("-H %q: want key:value", h)
		}
		if metadata.IsReserved(k) {
			return nil, errors.New("-H " + k + ": keys starting with " + metadata.ReservedPrefix + " are dora's own")
		}
		md.Append(k, strings.TrimSpace(v)) // -H k:a -H k:b sends both values
	}
	return md, nil
}

// callOptions are the call options of the -H flags: their metadata, if any.
func callOptions(o *options) ([]dora.CallOption, error) {
	md, err := requestMD(o)
	if err != nil || md == nil {
		return nil, err
	}
	return []dora.CallOption{dora.WithMetadata(md)}, nil
}
