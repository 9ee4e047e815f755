// Package devcerts writes a development certificate authority and server and client
// certificates signed by it, for TLS and mTLS on loopback (`etserver certs`). The keys are
// ECDSA P-256; nothing here is meant for production use.
package devcerts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Defaults used when Options fields are zero.
const (
	DefaultValidity   = 365 * 24 * time.Hour
	DefaultClientName = "etserver-client"
)

// DefaultHosts are the server certificate's names when Options.Hosts is empty.
var DefaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// Options configure Generate; zero values mean the default named beside each field.
type Options struct {
	Hosts      []string      // server DNS names and IPs; empty means DefaultHosts
	ClientName string        // client certificate common name; "" means DefaultClientName
	Validity   time.Duration // certificate lifetime; 0 means DefaultValidity
	Now        func() time.Time
}

// Files are the paths Write created, all in one directory.
type Files struct {
	CACert, CAKey         string // ca.pem, ca-key.pem
	ServerCert, ServerKey string // server.pem, server-key.pem
	ClientCert, ClientKey string // client.pem, client-key.pem
}

// Bundle is a generated CA with a server and a client certificate, PEM encoded.
type Bundle struct {
	CACert, CAKey         []byte
	ServerCert, ServerKey []byte
	ClientCert, ClientKey []byte
}

// Generate creates the CA, server and client certificates in memory.
func Generate(opts Options) (*Bundle, error) {
	hosts := opts.Hosts
	if len(hosts) == 0 {
		hosts = DefaultHosts
	}
	client := opts.ClientName
	if client == "" {
		client = DefaultClientName
	}
	validity := opts.Validity
	if validity == 0 {
		validity = DefaultValidity
	}
	if validity < 0 {
		return nil, fmt.Errorf("devcerts: validity %s is negative", validity)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	notBefore := now().Add(-time.Hour)
	notAfter := notBefore.Add(validity + time.Hour)

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devcerts: CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "etserver development CA", Organization: []string{"pocket"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("devcerts: CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("devcerts: CA certificate: %w", err)
	}
	b := &Bundle{CACert: pemCert(caDER)}
	if b.CAKey, err = pemKey(caKey); err != nil {
		return nil, err
	}

	leaf := func(cn string, usage x509.ExtKeyUsage, names []string) ([]byte, []byte, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, fmt.Errorf("devcerts: %s key: %w", cn, err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(),
			Subject:      pkix.Name{CommonName: cn, Organization: []string{"pocket"}},
			NotBefore:    notBefore,
			NotAfter:     notAfter,
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}
		for _, h := range names {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return nil, nil, fmt.Errorf("devcerts: %s certificate: %w", cn, err)
		}
		k, err := pemKey(key)
		return pemCert(der), k, err
	}
	if b.ServerCert, b.ServerKey, err = leaf(hosts[0], x509.ExtKeyUsageServerAuth, hosts); err != nil {
		return nil, err
	}
	if b.ClientCert, b.ClientKey, err = leaf(client, x509.ExtKeyUsageClientAuth, nil); err != nil {
		return nil, err
	}
	return b, nil
}

// Write generates a bundle and writes it into dir (created with mode 0700; keys 0600).
// It refuses to overwrite existing files unless force is true.
func Write(dir string, opts Options, force bool) (Files, error) {
	f := Files{
		CACert: filepath.Join(dir, "ca.pem"), CAKey: filepath.Join(dir, "ca-key.pem"),
		ServerCert: filepath.Join(dir, "server.pem"), ServerKey: filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client.pem"), ClientKey: filepath.Join(dir, "client-key.pem"),
	}
	b, err := Generate(opts)
	if err != nil {
		return Files{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Files{}, fmt.Errorf("devcerts: %w", err)
	}
	out := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{f.CACert, b.CACert, 0o644}, {f.CAKey, b.CAKey, 0o600},
		{f.ServerCert, b.ServerCert, 0o644}, {f.ServerKey, b.ServerKey, 0o600},
		{f.ClientCert, b.ClientCert, 0o644}, {f.ClientKey, b.ClientKey, 0o600},
	}
	if !force {
		for _, o := range out {
			if _, err := os.Stat(o.path); err == nil {
				return Files{}, fmt.Errorf("devcerts: %s exists (use --force to overwrite)", o.path)
			} else if !errors.Is(err, os.ErrNotExist) {
				return Files{}, fmt.Errorf("devcerts: %w", err)
			}
		}
	}
	for _, o := range out {
		if err := os.WriteFile(o.path, o.data, o.mode); err != nil {
			return Files{}, fmt.Errorf("devcerts: %w", err)
		}
	}
	return f, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func pemKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("devcerts: encoding key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
