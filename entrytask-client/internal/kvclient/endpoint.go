package kvclient

import (
	"errors"
	"fmt"
	"strings"

	"github.com/seed857a6cbd/pocket/lbclient"
)

// DefaultServer is the address etclient dials when no --server is given.
const DefaultServer = "127.0.0.1:7000"

// DefaultWeight is the weight of an endpoint written without "#weight" (lbclient's).
const DefaultWeight = lbclient.DefaultWeight

// MaxWeight is the largest weight ParseEndpoints accepts (lbclient's limit), also for the
// sum of an address's repeats.
const MaxWeight = lbclient.MaxWeight

// ErrBadEndpoint is wrapped by every error of ParseEndpoints.
var ErrBadEndpoint = errors.New("kvclient: bad server address")

// Endpoint is one etserver instance: its host:port address and its relative weight for the
// balancer.
type Endpoint struct {
	Addr   string
	Weight int
}

// ParseEndpoints parses a server list with lbclient's target parser (lbclient.ParseTarget),
// so a list that passes here is one the balancer accepts: one "host:port", or a
// comma-separated list of "host:port#weight" entries (the weight is optional, DefaultWeight
// when absent, and must be 1..MaxWeight; spaces around entries are ignored).
//
// The lists of deployed configurations are accepted as they are written
// (":9090#1,:9090#1,:9090#1"): an empty host is lbclient.LocalHost (":9090" is
// "localhost:9090"), and an address listed again adds its weight to its first entry, so an
// instance listed n times gets n times the share of calls of one listed once (the sum is at
// most MaxWeight; with a single distinct address the weight changes nothing). An empty list,
// an empty entry, a missing or non-numeric port and a bad weight are errors wrapping
// ErrBadEndpoint that name the entry and its position.
func ParseEndpoints(s string) ([]Endpoint, error) {
	eps, err := lbclient.ParseTarget(s)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), lbclient.ErrBadTarget.Error()+": ")
		return nil, fmt.Errorf("%w: %s", ErrBadEndpoint, msg)
	}
	out := make([]Endpoint, len(eps))
	for i, ep := range eps {
		out[i] = Endpoint{Addr: ep.Addr, Weight: ep.Weight}
	}
	return out, nil
}
