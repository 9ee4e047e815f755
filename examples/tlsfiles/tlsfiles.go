// Package tlsfiles builds the tls.Config of the example commands from PEM
// files named on their command lines.
package tlsfiles

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
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

// EphemeralValidity is how long the certificate of Ephemeral is valid.
const EphemeralValidity = 10 * 365 * 24 * time.Hour

// Ephemeral returns a private mutual-TLS pair for a link between two parts
// of one process over loopback: a fresh ECDSA P-256 key and a self-signed
// certificate for ip, made in memory and never written anywhere. The server
// configuration requires and verifies that very certificate from clients,
// the client configuration presents it and trusts only it, so no other
// process (which cannot have the key) can complete a handshake with either
// side. TLS 1.3 only.
func Ephemeral(ip net.IP) (server, client *tls.Config, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsfiles: ephemeral key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, nil, fmt.Errorf("tlsfiles: ephemeral serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "ephemeral " + ip.String()},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(EphemeralValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:           []net.IP{ip},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsfiles: ephemeral certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsfiles: ephemeral certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	pair := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}
	server = &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
	client = &tls.Config{
		Certificates: []tls.Certificate{pair},
		RootCAs:      pool,
		ServerName:   ip.String(),
		MinVersion:   tls.VersionTLS13,
	}
	return server, client, nil
}
