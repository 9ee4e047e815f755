// Package tlsfiles builds the tls.Config of the example commands from PEM
// files named on their command lines.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// ErrIncomplete is returned when a certificate is given without its key or
// the other way round.
var ErrIncomplete = errors.New("tlsfiles: certificate and key must be given together")

// Server returns the server configuration for certFile and keyFile (PEM),
// or nil when both are empty (plain TCP). With clientCAFile set, clients
// must present a certificate signed by one of its CAs (mutual TLS); giving
// it without a certificate is an error. The minimum version is TLS 1.2.
func Server(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		if clientCAFile != "" {
			return nil, errors.New("tlsfiles: a client CA needs a server certificate and key")
		}
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, ErrIncomplete
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsfiles: load server certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAFile != "" {
		pool, err := loadPool(clientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// Client returns the client configuration, or nil (plain TCP) when enable
// is false and every file and serverName are empty. The server certificate
// is always verified: against caFile when given, else the system roots;
// serverName overrides the name checked (by default the host of the
// address dialled). certFile and keyFile present a client certificate for
// mutual TLS.
func Client(enable bool, caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	if !enable && caFile == "" && certFile == "" && keyFile == "" && serverName == "" {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := loadPool(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return nil, ErrIncomplete
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("tlsfiles: load client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func loadPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tlsfiles: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tlsfiles: no PEM certificate in %s", file)
	}
	return pool, nil
}
