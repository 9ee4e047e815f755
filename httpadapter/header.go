package httpadapter

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
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
	// HeaderJoined sends {"<Canonical-Name>":"v1, v2", ":method":"GET"}: a JSON object of
	// strings, for backends that decode a flat string map. Several values of one header
	// are joined with ", " as RFC 9110 §5.3 allows; Cookie values with "; ". Deployed IIP
	// backends cannot decode it (they expect arrays); choose it only for backends written
	// for it.
	HeaderJoined
	// HeaderMulti (the default) sends {"<Canonical-Name>":["v1","v2"], ":method":["GET"]}:
	// every value kept apart, the JSON of a Go map[string][]string, which is what deployed
	// IIP backends (and their HTTP adapter) send and decode. DecodeHeader reads both forms.
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

// field is one extra header the adapter adds (it replaces the request's own of that name).
type field struct{ name, value string }

// forwardedExtras returns what the adapter adds to the request's end-to-end headers: Host,
// X-Forwarded-For (the client address appended to any earlier list) and X-Forwarded-Proto.
func forwardedExtras(r *http.Request, dst *[3]field) []field {
	out := dst[:0]
	out = append(out, field{"Host", r.Host})
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := r.Header.Values("X-Forwarded-For"); len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		out = append(out, field{"X-Forwarded-For", ip})
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	return append(out, field{"X-Forwarded-Proto", proto})
}

// EncodeHeader returns the __http_hdr__ value (before query escaping) for method and h in
// format f: base64url with padding of the JSON object described at HeaderJoined and
// HeaderMulti, members sorted by name. Hop-by-hop headers (Connection, Keep-Alive,
// Transfer-Encoding, ...) are left out. HeaderOff returns "".
func EncodeHeader(f HeaderFormat, method string, h http.Header) string {
	if f != HeaderJoined && f != HeaderMulti {
		return ""
	}
	js := appendHeaderJSON(nil, f, method, h, nil, nil)
	return base64.URLEncoding.EncodeToString(js)
}

// appendHeaderJSON appends the __http_hdr__ JSON object: the method, h's end-to-end headers
// (only those in allow, when allow is not nil) and extras (which replace h's headers of the
// same name), members sorted by name.
func appendHeaderJSON(dst []byte, f HeaderFormat, method string, h http.Header, allow map[string]bool, extras []field) []byte {
	var arr [32]string
	keys := arr[:0]
	for k := range h {
		if hopHeaders[k] || (allow != nil && !allow[k]) || isExtra(k, extras) {
			continue
		}
		keys = append(keys, k)
	}
	for _, e := range extras {
		keys = append(keys, e.name)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	dst = appendJSONString(dst, MethodKey)
	dst = append(dst, ':')
	dst = appendValues(dst, f, []string{method}, ", ")
	for _, k := range keys {
		dst = append(dst, ',')
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		if e, ok := extraValue(k, extras); ok {
			if f == HeaderMulti {
				dst = append(dst, '[')
				dst = appendJSONString(dst, e)
				dst = append(dst, ']')
			} else {
				dst = appendJSONString(dst, e)
			}
			continue
		}
		sep := ", "
		if k == "Cookie" {
			sep = "; "
		}
		dst = appendValues(dst, f, h[k], sep)
	}
	return append(dst, '}')
}

func isExtra(k string, extras []field) bool {
	_, ok := extraValue(k, extras)
	return ok
}

func extraValue(k string, extras []field) (string, bool) {
	for _, e := range extras {
		if e.name == k {
			return e.value, true
		}
	}
	return "", false
}

// appendValues appends vals as one JSON string joined by sep (HeaderJoined) or as an array
// of strings (HeaderMulti).
func appendValues(dst []byte, f HeaderFormat, vals []string, sep string) []byte {
	if f == HeaderMulti {
		dst = append(dst, '[')
		for i, v := range vals {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, v)
		}
		return append(dst, ']')
	}
	dst = append(dst, '"')
	for i, v := range vals {
		if i > 0 {
			dst = append(dst, sep...)
		}
		dst = appendJSONChars(dst, v)
	}
	return append(dst, '"')
}

func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendJSONChars(dst, s)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONChars appends s escaped for the inside of a JSON string: quote, backslash and
// control characters escaped, invalid UTF-8 replaced by U+FFFD (as encoding/json does).
func appendJSONChars(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
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

// basePath returns the request URI without any client-supplied __http_hdr__ argument,
// and whether it has a non-empty query left.
func basePath(requestURI string) (base string, hasQuery bool) {
	path, query, ok := strings.Cut(requestURI, "?")
	if !ok {
		return requestURI, false
	}
	if !strings.Contains(query, HeaderParam) && !strings.Contains(query, "%") {
		return requestURI, query != ""
	}
	kept := make([]string, 0, 4)
	removed := false
	for _, part := range strings.Split(query, "&") {
		k, _, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); k == HeaderParam || err == nil && uk == HeaderParam {
			removed = true
			continue
		}
		kept = append(kept, part)
	}
	if !removed {
		return requestURI, query != ""
	}
	if len(kept) == 0 {
		return path, false
	}
	return path + "?" + strings.Join(kept, "&"), true
}

// appendHeaderArg appends "?" or "&", then __http_hdr__= and the base64url of js with its
// padding percent-encoded (the only base64url character a query value must escape).
func appendHeaderArg(dst []byte, hasQuery bool, js []byte) []byte {
	if hasQuery {
		dst = append(dst, '&')
	} else {
		dst = append(dst, '?')
	}
	dst = append(dst, HeaderParam...)
	dst = append(dst, '=')
	n := len(dst)
	dst = base64.URLEncoding.AppendEncode(dst, js)
	pad := 0
	for len(dst) > n && dst[len(dst)-1] == '=' {
		dst = dst[:len(dst)-1]
		pad++
	}
	for ; pad > 0; pad-- {
		dst = append(dst, "%3D"...)
	}
	return dst
}

// iipPath builds the IIP path: the request URI without any client-supplied __http_hdr__,
// plus __http_hdr__=<hdr> (query-escaped) unless hdr is empty.
func iipPath(requestURI, hdr string) string {
	base, hasQuery := basePath(requestURI)
	if hdr == "" {
		return base
	}
	sep := "?"
	if hasQuery {
		sep = "&"
	}
	return base + sep + HeaderParam + "=" + url.QueryEscape(hdr)
}
