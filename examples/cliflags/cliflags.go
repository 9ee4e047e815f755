// Package cliflags holds the command-line flags the example commands share
// (urfave/cli/v2): TLS files, byte sizes and the IIP client built from them.
package cliflags

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/examples/tlsfiles"
)

// Server TLS flag names.
const (
	FlagTLSCert  = "tls-cert"
	FlagTLSKey   = "tls-key"
	FlagClientCA = "client-ca"
)

// Client TLS flag names.
const (
	FlagTLS        = "tls"
	FlagCA         = "ca"
	FlagCert       = "cert"
	FlagKey        = "key"
	FlagServerName = "server-name"
)

// ServerTLSFlags are --tls-cert, --tls-key and --client-ca.
func ServerTLSFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: FlagTLSCert, Usage: "serve TLS with this PEM certificate (chain)"},
		&cli.StringFlag{Name: FlagTLSKey, Usage: "PEM private key of --tls-cert"},
		&cli.StringFlag{Name: FlagClientCA, Usage: "require client certificates signed by this PEM CA (mutual TLS)"},
	}
}

// ServerTLS builds the server configuration from ServerTLSFlags; nil means
// plain TCP.
func ServerTLS(c *cli.Context) (*tls.Config, error) {
	return tlsfiles.Server(c.String(FlagTLSCert), c.String(FlagTLSKey), c.String(FlagClientCA))
}

// ClientTLSFlags are --tls, --ca, --cert, --key and --server-name.
func ClientTLSFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: FlagTLS, Usage: "speak TLS, verifying the server against the system roots (implied by the other TLS flags)"},
		&cli.StringFlag{Name: FlagCA, Usage: "verify the server against this PEM CA instead of the system roots"},
		&cli.StringFlag{Name: FlagCert, Usage: "present this PEM client certificate (mutual TLS)"},
		&cli.StringFlag{Name: FlagKey, Usage: "PEM private key of --cert"},
		&cli.StringFlag{Name: FlagServerName, Usage: "name to verify in the server certificate (default: host of --addr)"},
	}
}

// ClientTLS builds the client configuration from ClientTLSFlags; nil means
// plain TCP.
func ClientTLS(c *cli.Context) (*tls.Config, error) {
	return tlsfiles.Client(c.Bool(FlagTLS), c.String(FlagCA), c.String(FlagCert), c.String(FlagKey), c.String(FlagServerName))
}

// ParseSize parses a byte count: a plain integer or one with the suffix
// K, M or G (powers of 1024; "KiB", "MiB", "GiB" and a lower-case suffix
// are accepted too), for example "4MiB" or "512k". It rejects negatives.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	lower := strings.ToLower(t)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(lower, u.suffix) {
			t, mult = t[:len(t)-len(u.suffix)], u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("cliflags: %q is not a byte size (like 1048576, 512KiB, 4MiB)", s)
	}
	return n * mult, nil
}

// FlagMemoryLimit is the servers' --memory-limit flag.
const FlagMemoryLimit = "memory-limit"

// DefaultMemoryLimit is --memory-limit's default, 192 MiB: with it, the IIP server's
// default budgets (96 MiB of requests, 32 MiB of replies, 68 KiB per connection) keep
// 1,000 hostile connections under 256 MiB of resident memory; without a limit, the
// garbage collector lets the heap reach twice what is live first (measured: 305 MiB).
const DefaultMemoryLimit = "192MiB"

// MemoryLimitFlag is --memory-limit: the Go runtime's soft memory limit while serving.
func MemoryLimitFlag() cli.Flag {
	return &cli.StringFlag{Name: FlagMemoryLimit, Value: DefaultMemoryLimit,
		Usage: "soft memory limit of the Go runtime (like 192MiB; 0 = none); the GOMEMLIMIT environment variable, when set, wins"}
}

// ApplyMemoryLimit sets the soft memory limit from --memory-limit, unless GOMEMLIMIT
// is set in the environment (the runtime has then applied it already). It is a
// process-wide setting: call it from a command's action, not from a library.
func ApplyMemoryLimit(c *cli.Context, log *slog.Logger) error {
	if os.Getenv("GOMEMLIMIT") != "" {
		return nil
	}
	n, err := ParseSize(c.String(FlagMemoryLimit))
	if err != nil {
		return fmt.Errorf("--%s: %w", FlagMemoryLimit, err)
	}
	if n == 0 {
		return nil
	}
	debug.SetMemoryLimit(n)
	log.Debug("soft memory limit set", "bytes", n)
	return nil
}
