// Package e2e holds etclient's end-to-end tests (it has no code of its own): they build the
// real etserver and etclient binaries, run `etserver seed` and `etserver serve` on 127.0.0.1
// with the embedded store (and with TLS and mutual TLS from `etserver certs`), and drive them
// with the etclient command line, the etclient binary and the dora-backed kvclient.
package e2e
