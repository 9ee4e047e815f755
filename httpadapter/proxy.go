package httpadapter

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/seed857a6cbd/pocket/iip"
)

// ReservedIIPPrefix starts the IIP paths the adapter never forwards: the protocol's own
// paths (/sys/new_channel, /sys/delete_channel, /sys/ping, the statistics paths
// /sys/statis, /sys/connection_statis...; iip's PROTOCOL.md, sections 2 and 5), which an
// IIP server answers itself and no handler may take. Through a shared, pooled backend client they would let any HTTP client
// delete the channels other requests use or read the backend's internals, so a request URI
// starting with it is answered 404 with code "reserved_path" before its body is read.
// (An IIP server compares paths byte for byte, so "/%73ys/..." or "//sys/..." are not
// reserved paths to it and are forwarded like any other.)
const ReservedIIPPrefix = "/sys/"

// emptyData is what an empty request body becomes toward IIP servers: a zero data length is
// illegal on the wire and existing servers expect "{}".
var emptyData = []byte("{}")

// jsonType is the header value of JSON answers.
var jsonType = []string{"application/json"}

// proxyIIP forwards r to the route's IIP backend and writes the answer. It returns the
// error to answer when nothing was written.
func (s *Server) proxyIIP(w http.ResponseWriter, r *http.Request, rt *Route, sc *scratch) *httpError {
	uri := requestURI(r)
	if len(uri) > iip.MaxPathLen {
		return &httpError{http.StatusRequestURITooLong, CodeURITooLong,
			"httpadapter: request URI of " + strconv.Itoa(len(uri)) + " bytes exceeds the IIP path limit of " + strconv.Itoa(iip.MaxPathLen), 0}
	}
	if strings.HasPrefix(uri, ReservedIIPPrefix) {
		// Checked before the body is read: nothing of the request reaches a backend.
		return &httpError{http.StatusNotFound, CodeReservedPath,
			"httpadapter: IIP paths under " + ReservedIIPPrefix + " are reserved to the IIP protocol and never forwarded", 0}
	}
	body, herr := s.readBody(w, r, sc)
	if herr != nil {
		return herr
	}
	if len(body) == 0 {
		body = emptyData
	}
	path, hasQuery := basePath(uri)
	if s.cfg.headerFormat != HeaderOff {
		var ex [3]field
		sc.js = appendHeaderJSON(sc.js[:0], s.cfg.headerFormat, r.Method, r.Header, s.iipHeaders, forwardedExtras(r, &ex))
		sc.path = appendHeaderArg(append(sc.path[:0], path...), hasQuery, sc.js)
		path = string(sc.path)
	}
	if len(path) > iip.MaxPathLen {
		return &httpError{http.StatusRequestHeaderFieldsTooLarge, CodeHeaderTooLarge,
			"httpadapter: request URI plus " + HeaderParam + " is " + strconv.Itoa(len(path)) + " bytes, over the IIP path limit of " + strconv.Itoa(iip.MaxPathLen), 0}
	}
	timeout := rt.Timeout
	if timeout <= 0 {
		timeout = s.cfg.callTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	if rt.HashKey != nil {
		ctx = iip.WithHashKey(ctx, rt.HashKey(r))
	}
	resp, err := rt.Backend.Do(ctx, path, body)
	if err != nil {
		return iipError(err, r.Context())
	}
	ct := rt.ContentType
	if ct == "" {
		ct = sniff(resp)
	}
	h := w.Header()
	if ct == jsonType[0] {
		h["Content-Type"] = jsonType // shared, never modified: saves an allocation
	} else {
		h.Set("Content-Type", ct)
	}
	h.Set("Content-Length", strconv.Itoa(len(resp)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(resp)
	return nil
}

// sniff returns the Content-Type of an IIP response: JSON when it parses as JSON, else
// what http.DetectContentType says (text/plain; charset=utf-8 for text).
func sniff(b []byte) string {
	if len(b) > 0 && json.Valid(b) {
		return "application/json"
	}
	return http.DetectContentType(b)
}
