package cli

import (
	"crypto/tls"
	"crypto/x509"
	"os"
)

// tlsConfig builds the client TLS configuration of the settings: nil without --tls; the
// server verified against --ca (or the system roots); a client certificate from --cert and
// --tls-key for mutual TLS. ServerName is left empty: the transport sets it per endpoint from
// the endpoint's host.
func tlsConfig(s settings) (*tls.Config, error) {
	if !s.TLS {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CA != "" {
		pem, err := os.ReadFile(s.CA)
		if err != nil {
			return nil, usageErrorf("--ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErrorf("--ca %s: no PEM certificate found", s.CA)
		}
		tc.RootCAs = pool
	}
	if s.Cert != "" {
		cert, err := tls.LoadX509KeyPair(s.Cert, s.TLSKey)
		if err != nil {
			return nil, usageErrorf("--cert %s / --tls-key %s: %v", s.Cert, s.TLSKey, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
