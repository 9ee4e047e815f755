// Package httpadapter puts HTTP in front of pocket services.
//
// A Server routes each HTTP request either to an IIP backend (a reverse proxy: the IIP path
// is the request URI, the data is the body, the HTTP method and headers travel in the
// __http_hdr__ query argument) or to a dora method (HTTP/JSON transcoding: POST
// /package.Service/Method with a JSON body is converted with protojson through the
// service's registered descriptors, no generated code needed). Errors are answered with
// real HTTP statuses and a JSON body {"error":{"code":...,"message":...}}, never a 200.
//
// IIP routes are tried in order (host, regular expression on the request URI, an extra
// match function); WithRouteFunc adds a hook in front of them. Each route targets an
// IIPBackend: an *iip.Client, or an *iip.LoadBalanceClient balancing many servers with
// lbclient. Dora calls go to a *dora.Client, which balances too with an lb:/// target.
//
// The Server has body, header and time limits, TLS (and mutual TLS), graceful Shutdown, an
// slog access log and Prometheus metrics per route. Handler mounts it anywhere.
//
// It assumes hostile peers (see the README's resource model): request bodies are bounded
// per request (WithMaxBodyBytes) and for the whole server (WithMaxBufferedBytes, 503 past
// it), a body slower than the read timeout is answered 408, temporary Accept errors are
// retried with backoff, IIP paths under ReservedIIPPrefix ("/sys/") are never forwarded,
// and error bodies and logs never carry the forwarded headers.
package httpadapter
