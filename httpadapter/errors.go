package httpadapter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/seed857a6cbd/pocket/iip"
	"github.com/seed857a6cbd/pocket/lbclient"
)

// Sentinel errors, wrapped with %w; test them with errors.Is.
var (
	// ErrBadOption is wrapped by NewServer's error when an option or a route is invalid.
	ErrBadOption = errors.New("httpadapter: bad option")
	// ErrBadHeader is wrapped by DecodeHeader's error when __http_hdr__ is not valid
	// base64url of a JSON object of the expected shape.
	ErrBadHeader = errors.New("httpadapter: bad __http_hdr__")
)

// Error codes: the "code" member of every error body {"error":{"code":...,"message":...}}.
// Errors of dora calls use dora's code names instead ("InvalidArgument", "NotFound", ...).
const (
	CodeNoRoute            = "no_route"            // 404: no route matched the request
	CodeNotFound           = "not_found"           // 404: the IIP server has no handler for the path (IIP 105), or no such dora method
	CodeBackendUnavailable = "backend_unavailable" // 502: backend down, unreachable, connection lost, or it broke the protocol
	CodeBackendOverloaded  = "backend_overloaded"  // 503: the IIP server is at its channel or connection limit (IIP 106–108)
	CodeTimeout            = "timeout"             // 504: the call timed out (locally, or IIP 103 from the server)
	CodeHandlerError       = "handler_error"       // 500: the IIP handler failed or returned nothing (IIP 101, 102)
	CodeBackendError       = "backend_error"       // 500: any other IIP error response (IIP 100, 104, unknown codes)
	CodeResponseTooLarge   = "response_too_large"  // 502: the backend's response exceeds the client's limit
	CodeBodyTooLarge       = "body_too_large"      // 413: the request body exceeds WithMaxBodyBytes
	CodeURITooLong         = "uri_too_long"        // 414: the request URI exceeds the IIP path limit (2048 bytes)
	CodeHeaderTooLarge     = "header_too_large"    // 431: URI plus forwarded headers exceed the IIP path limit
	CodeBadRequest         = "bad_request"         // 400: the request body could not be read
	CodeMethodNotAllowed   = "method_not_allowed"  // 405: a dora call not sent with POST
	CodeUnsupportedMedia   = "unsupported_media"   // 415: a dora call whose Content-Type is not JSON
	CodeNotImplemented     = "not_implemented"     // 501: a streaming dora method
	CodeCanceled           = "canceled"            // 499: the HTTP client went away (nobody reads it)
	CodeRequestTimeout     = "request_timeout"     // 408: the request body arrived slower than the read timeout
	CodeReservedPath       = "reserved_path"       // 404: the IIP path is reserved (ReservedIIPPrefix) and never forwarded
	CodeServerBusy         = "server_busy"         // 503: the request bodies in memory reached WithMaxBufferedBytes; retry (Retry-After)
)

// StatusClientClosedRequest is the status logged (and counted) for a request whose client
// went away before the answer (nginx's 499).
const StatusClientClosedRequest = 499

// httpError is an error answered to the HTTP client.
type httpError struct {
	status  int
	code    string
	message string
	iipCode int // the IIP error code when the backend answered one
}

func (e *httpError) Error() string { return "httpadapter: " + e.code + ": " + e.message }

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	IIPCode int    `json:"iip_code,omitempty"`
	// Details are a dora error's status details, each the protojson form of an Any.
	Details []json.RawMessage `json:"details,omitempty"`
}

// writeError answers e as JSON. Never a 2xx.
func writeError(w http.ResponseWriter, e *httpError) { writeErrorDetails(w, e, nil) }

// writeErrorDetails answers e as JSON with status details (see writeError).
func writeErrorDetails(w http.ResponseWriter, e *httpError, details []json.RawMessage) {
	b, err := json.Marshal(errorBody{Error: errorDetail{Code: e.code, Message: e.message, IIPCode: e.iipCode, Details: details}})
	if err != nil { // cannot happen with strings and ints
		b = []byte(`{"error":{"code":"internal","message":"httpadapter: cannot encode error"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

// iipError maps the error of an IIP call to the HTTP answer. callCtx is the call's context,
// reqCtx the HTTP request's: they tell a timeout from a client that went away. The message
// goes to the HTTP client and to the access log, so it never carries the forwarded headers:
// any __http_hdr__ value in it (the iip client names the path it called in its errors, a
// backend may echo its query) is redacted.
func iipError(err error, reqCtx context.Context) *httpError {
	e := iipErrorRaw(err, reqCtx)
	e.message = redactHeaderArg(e.message)
	return e
}

func iipErrorRaw(err error, reqCtx context.Context) *httpError {
	var ie *iip.Error
	switch {
	case reqCtx.Err() != nil && errors.Is(err, context.Canceled):
		return &httpError{StatusClientClosedRequest, CodeCanceled, "httpadapter: client went away", 0}
	case errors.Is(err, context.DeadlineExceeded):
		return &httpError{http.StatusGatewayTimeout, CodeTimeout, "httpadapter: backend call timed out", 0}
	case errors.As(err, &ie):
		return iipCodeError(ie)
	case errors.Is(err, iip.ErrMessageTooLarge):
		return &httpError{http.StatusBadGateway, CodeResponseTooLarge, err.Error(), 0}
	case errors.Is(err, lbclient.ErrNoBackends):
		return &httpError{http.StatusBadGateway, CodeBackendUnavailable, err.Error(), 0}
	default: // connection lost or refused, dial error, protocol error, closed client...
		return &httpError{http.StatusBadGateway, CodeBackendUnavailable, fmt.Sprintf("httpadapter: backend unavailable: %v", err), 0}
	}
}

func iipCodeError(ie *iip.Error) *httpError {
	e := &httpError{message: ie.Message, iipCode: ie.Code}
	switch ie.Code {
	case iip.CodeNoHandler:
		e.status, e.code = http.StatusNotFound, CodeNotFound
	case iip.CodeTimeout:
		e.status, e.code = http.StatusGatewayTimeout, CodeTimeout
	case iip.CodeHandler, iip.CodeNoResponse:
		e.status, e.code = http.StatusInternalServerError, CodeHandlerError
	case iip.CodeChannelLimit, iip.CodeServerConnLimit, iip.CodeClientConnLimit:
		e.status, e.code = http.StatusServiceUnavailable, CodeBackendOverloaded
	default:
		e.status, e.code = http.StatusInternalServerError, CodeBackendError
	}
	return e
}

// redacted replaces a __http_hdr__ value in error messages and logs.
const redacted = "REDACTED"

// redactHeaderArg returns msg with the value of every __http_hdr__ argument in it (whole or
// truncated, raw or percent-encoded) replaced by REDACTED: that value is the base64 of the
// forwarded headers, Authorization and Cookie included. A message without the argument is
// returned as is, without allocating.
func redactHeaderArg(msg string) string {
	if !strings.Contains(msg, HeaderParam) {
		return msg
	}
	var b strings.Builder
	for {
		i := strings.Index(msg, HeaderParam)
		if i < 0 {
			b.WriteString(msg)
			return b.String()
		}
		i += len(HeaderParam)
		b.WriteString(msg[:i])
		msg = msg[i:]
		// "=" or its percent-encoded form, then the value: base64url characters and
		// percent-encoded padding, up to the first character that cannot be part of it.
		switch {
		case strings.HasPrefix(msg, "="):
			b.WriteByte('=')
			msg = msg[1:]
		case strings.HasPrefix(msg, "%3D"), strings.HasPrefix(msg, "%3d"):
			b.WriteString(msg[:3])
			msg = msg[3:]
		default:
			continue
		}
		n := 0
		for n < len(msg) && isHeaderValueChar(msg[n]) {
			n++
		}
		if n > 0 {
			b.WriteString(redacted)
		}
		msg = msg[n:]
	}
}

// isHeaderValueChar reports whether c may appear in an __http_hdr__ value as it travels or
// is quoted: base64 (both alphabets), padding and percent-encoding.
func isHeaderValueChar(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '+' || c == '/' || c == '=' || c == '%'
}
