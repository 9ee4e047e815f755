package httpadapter

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// IIPBackend is where a route sends its IIP calls: *iip.Client (one server) and
// *iip.LoadBalanceClient (many servers, balanced with lbclient) implement it. Do sends data
// to path and returns the response data or the call's error (*iip.Error for error
// responses).
type IIPBackend interface {
	Do(ctx context.Context, path string, data []byte) ([]byte, error)
}

// Route sends matching HTTP requests to an IIP backend. The conditions that are set must
// all hold; a route with none matches every request.
type Route struct {
	// Name labels the route in metrics and the access log. Default: "host=<Host>
	// uri=~<Pattern>" from the conditions set, "*" when none.
	Name string
	// Host matches the request's host (port stripped, case-insensitive): "api.example.com",
	// or "*.example.com" for any subdomain (not example.com itself). Empty: any host.
	Host string
	// Pattern is a regular expression (package regexp) matched against the request URI,
	// path and query as received ("/users/42?full=1"); anchor it yourself. Empty: any URI.
	Pattern string
	// Match is an extra condition. Nil: none.
	Match func(r *http.Request) bool
	// Backend receives the calls. Required.
	Backend IIPBackend
	// ContentType is the Content-Type of successful responses. Empty: sniffed, as
	// "application/json" when the response is valid JSON, else http.DetectContentType.
	ContentType string
	// Timeout bounds one call of this route. Zero: WithCallTimeout's value.
	Timeout time.Duration
	// HashKey, when set, gives the key a hashing balancer picks a backend by: the adapter
	// puts it in the call's context with iip.WithHashKey, which an *iip.LoadBalanceClient
	// with lbclient.PickHash reads (use the client IP, a user ID...). Nil: no key.
	HashKey func(r *http.Request) string

	re      *regexp.Regexp
	metrics *routeMetrics // set by NewServer for table routes
}

// compile checks r and fills its defaults.
func (r *Route) compile(i int) error {
	if r.Backend == nil {
		return fmt.Errorf("%w: route %d (%q) has no Backend", ErrBadOption, i, r.Name)
	}
	if r.Pattern != "" {
		re, err := regexp.Compile(r.Pattern)
		if err != nil {
			return fmt.Errorf("%w: route %d: pattern %q: %v", ErrBadOption, i, r.Pattern, err)
		}
		r.re = re
	}
	r.Host = strings.ToLower(r.Host)
	if r.Name == "" {
		var parts []string
		if r.Host != "" {
			parts = append(parts, "host="+r.Host)
		}
		if r.Pattern != "" {
			parts = append(parts, "uri=~"+r.Pattern)
		}
		if len(parts) == 0 {
			parts = append(parts, "*")
		}
		r.Name = strings.Join(parts, " ")
	}
	return nil
}

// matches reports whether the request satisfies every condition of the route.
func (r *Route) matches(req *http.Request, host string) bool {
	if r.Host != "" && !hostMatches(r.Host, host) {
		return false
	}
	if r.re != nil && !r.re.MatchString(requestURI(req)) {
		return false
	}
	return r.Match == nil || r.Match(req)
}

func hostMatches(pattern, host string) bool {
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		return len(host) > len(suffix) && strings.HasSuffix(host, suffix)
	}
	return pattern == host
}

// requestURI returns the request URI as received (the URL's form for requests built by hand).
func requestURI(r *http.Request) string {
	if r.RequestURI != "" {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

// requestHost returns the request's host, lower case, port stripped.
func requestHost(r *http.Request) string {
	h := r.Host
	if strings.LastIndexByte(h, ':') >= 0 {
		if hh, _, err := net.SplitHostPort(h); err == nil {
			h = hh
		}
	}
	return strings.ToLower(h)
}

// route picks the IIP route of a request: the hook first, then the table in order.
func (s *Server) route(r *http.Request) *Route {
	if s.cfg.routeFunc != nil {
		if rt := s.cfg.routeFunc(r); rt != nil && rt.Backend != nil {
			return rt
		}
	}
	host := requestHost(r)
	for i := range s.routes {
		if s.routes[i].matches(r, host) {
			return &s.routes[i]
		}
	}
	return nil
}
