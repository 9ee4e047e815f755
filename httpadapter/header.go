package httpadapter

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// HeaderParam is the query argument that carries the HTTP method and headers toward IIP
// servers: base64url (RFC 4648 §5, with padding) of a JSON object, percent-encoded as a
// query value. A client-supplied argument of that name is removed before the adapter adds
// its own, so a backend can trust it came from the adapter.
const HeaderParam = "__http_hdr__"

// MethodKey is the member of the __http_hdr__ object holding the HTTP method ("GET",
// "POST", ...). The colon keeps it apart from every real header name.
const MethodKey = ":method"

// HeaderFormat is how the HTTP method and headers travel toward IIP servers.
type HeaderFormat int

const (
	// HeaderOff sends nothing: the IIP path is the request URI unchanged.
	HeaderOff HeaderFormat = iota
	// HeaderJoined (the default) sends {"<Canonical-Name>":"v1, v2", ":method":"GET"}: a
	// JSON object of strings, the form existing IIP servers decode (a flat string map
	// decodes in every language; an array would break them). Several values of one header
	// are joined with ", " as RFC 9110 §5.3 allows; Cookie values with "; ".
	HeaderJoined
	// HeaderMulti sends {"<Canonical-Name>":["v1","v2"], ":method":["GET"]}: every value
	// kept apart, for servers written for it (DecodeHeader reads both forms).
	HeaderMulti
)

// String returns "off", "joined" or "multi".
func (f HeaderFormat) String() string {
	switch f {
	case HeaderOff:
		return "off"
	case HeaderJoined:
		return "joined"
	case HeaderMulti:
		return "multi"
	}
	return fmt.Sprintf("HeaderFormat(%d)", int(f))
}

// hopHeaders are connection-level headers a proxy must not forward (RFC 9110 §7.6.1).
var hopHeaders = map[string]bool{
	"Connection":          true,
	"Keep-Alive":          true,
	"Proxy-Connection":    true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
}

// forwardedHeader collects what travels to the backend: the request's end-to-end headers,
// Host, X-Forwarded-For (the client address appended), X-Forwarded-Proto and the method.
func forwardedHeader(r *http.Request) http.Header {
	h := make(http.Header, len(r.Header)+4)
	for k, v := range r.Header {
		if !hopHeaders[k] {
			h[k] = v
		}
	}
	h.Set("Host", r.Host)
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := r.Header.Values("X-Forwarded-For"); len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		h.Set("X-Forwarded-For", ip)
	}
	if r.TLS != nil {
		h.Set("X-Forwarded-Proto", "https")
	} else {
		h.Set("X-Forwarded-Proto", "http")
	}
	return h
}

// EncodeHeader returns the __http_hdr__ value (before query escaping) for method and h in
// format f: base64url with padding of the JSON object described at HeaderJoined and
// HeaderMulti. HeaderOff returns "".
func EncodeHeader(f HeaderFormat, method string, h http.Header) string {
	var (
		b   []byte
		err error
	)
	switch f {
	case HeaderJoined:
		m := make(map[string]string, len(h)+1)
		for k, v := range h {
			sep := ", "
			if k == "Cookie" {
				sep = "; "
			}
			m[k] = strings.Join(v, sep)
		}
		m[MethodKey] = method
		b, err = json.Marshal(m)
	case HeaderMulti:
		m := make(map[string][]string, len(h)+1)
		for k, v := range h {
			m[k] = v
		}
		m[MethodKey] = []string{method}
		b, err = json.Marshal(m)
	default:
		return ""
	}
	if err != nil { // strings only: cannot happen
		return ""
	}
	return base64.URLEncoding.EncodeToString(b)
}

// DecodeHeader reads the __http_hdr__ argument of an IIP request's query (iip.Request.Query)
// on the server side: it returns the HTTP method and headers the adapter forwarded. Both
// formats are accepted (string values or arrays of strings), base64url with or without
// padding. A missing argument returns "", nil, nil; anything malformed an error wrapping
// ErrBadHeader that says what is wrong. Header names are put in canonical form (as
// http.Header.Get expects); names differing only in case are merged.
func DecodeHeader(q url.Values) (method string, h http.Header, err error) {
	v := q.Get(HeaderParam)
	if v == "" {
		return "", nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "="))
	if err != nil {
		return "", nil, fmt.Errorf("%w: not base64url: %v", ErrBadHeader, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", nil, fmt.Errorf("%w: not a JSON object: %v", ErrBadHeader, err)
	}
	h = make(http.Header, len(m))
	for k, rv := range m {
		var vals []string
		var s string
		if err := json.Unmarshal(rv, &s); err == nil {
			vals = []string{s}
		} else if err := json.Unmarshal(rv, &vals); err != nil {
			return "", nil, fmt.Errorf("%w: member %q is neither a string nor an array of strings", ErrBadHeader, k)
		}
		if k == MethodKey {
			if len(vals) != 1 {
				return "", nil, fmt.Errorf("%w: %s has %d values, want 1", ErrBadHeader, MethodKey, len(vals))
			}
			method = vals[0]
			continue
		}
		ck := http.CanonicalHeaderKey(k)
		h[ck] = append(h[ck], vals...)
	}
	return method, h, nil
}

// iipPath builds the IIP path: the request URI without any client-supplied __http_hdr__,
// plus the adapter's __http_hdr__ (unless hdr is empty).
func iipPath(requestURI, hdr string) string {
	path, query, hasQuery := strings.Cut(requestURI, "?")
	removed := false
	if hasQuery && (strings.Contains(query, HeaderParam) || strings.Contains(query, "%")) {
		kept := make([]string, 0, 4)
		for _, part := range strings.Split(query, "&") {
			k, _, _ := strings.Cut(part, "=")
			if uk, err := url.QueryUnescape(k); k == HeaderParam || err == nil && uk == HeaderParam {
				removed = true
				continue
			}
			kept = append(kept, part)
		}
		if removed {
			query = strings.Join(kept, "&")
		}
	}
	if hdr != "" {
		if query != "" {
			query += "&"
		}
		query += HeaderParam + "=" + url.QueryEscape(hdr)
	}
	switch {
	case query != "":
		return path + "?" + query
	case removed:
		return path
	}
	return requestURI // no query, or a bare "?" kept as sent
}
