package httpadapter

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"
)

// DoraConn is where dora calls go: *dora.Client implements it, for one server or balanced
// over many (the unary half of dora.ClientConnInterface).
type DoraConn interface {
	Invoke(ctx context.Context, method string, req, resp any, opts ...dora.CallOption) error
}

// DescriptorResolver finds service and message descriptors by full name;
// *protoregistry.Files (protoregistry.GlobalFiles, or files you built from
// FileDescriptorProtos) implements it.
type DescriptorResolver interface {
	FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error)
}

// doraMethod is a resolved unary or streaming method, cached by URL path.
type doraMethod struct {
	full    string        // "/package.Service/Method"
	metrics *routeMetrics // labelled "dora:" + full
	desc    protoreflect.MethodDescriptor
	stream  bool
}

// doraTranscoder turns HTTP/JSON requests into dora calls.
type doraTranscoder struct {
	s         *Server
	res       DescriptorResolver
	marshal   protojson.MarshalOptions
	unmarshal protojson.UnmarshalOptions
	reqHdr    []string        // canonical header names forwarded as metadata
	respAll   bool            // every response header key becomes an HTTP header
	respHdr   map[string]bool // response header keys (lower case) that become HTTP headers
	methods   sync.Map        // URL path -> *doraMethod
}

func newDoraTranscoder(s *Server, res DescriptorResolver) *doraTranscoder {
	t := &doraTranscoder{s: s, res: res, marshal: s.cfg.doraMarshal, unmarshal: s.cfg.doraUnmarshal}
	if files, ok := res.(*protoregistry.Files); ok && files != protoregistry.GlobalFiles {
		types := dynamicpb.NewTypes(files)
		t.marshal.Resolver, t.unmarshal.Resolver = types, types
	}
	names := s.cfg.doraReqHeaders
	if s.cfg.traceContext {
		names = append(slices.Clone(names), TraceHeaders...)
	}
	for _, h := range names {
		h = http.CanonicalHeaderKey(h)
		if metadata.IsReserved(strings.ToLower(h)) || slices.Contains(t.reqHdr, h) {
			continue
		}
		t.reqHdr = append(t.reqHdr, h)
	}
	t.respHdr = make(map[string]bool)
	for _, k := range s.cfg.doraRespHeaders {
		if k == "*" {
			t.respAll = true
		}
		t.respHdr[strings.ToLower(k)] = true
	}
	return t
}

// lookup resolves a URL path of the form <prefix>package.Service/Method. It returns the
// method when the service is known; an error when the service is known but has no such
// method; nil, nil when the path names no known service (the IIP routes get it).
func (t *doraTranscoder) lookup(path string) (*doraMethod, *httpError) {
	if v, ok := t.methods.Load(path); ok {
		return v.(*doraMethod), nil
	}
	rest, ok := strings.CutPrefix(path, t.s.cfg.doraPrefix)
	if !ok {
		return nil, nil
	}
	svc, name, ok := strings.Cut(rest, "/")
	if !ok || svc == "" || name == "" || strings.Contains(name, "/") || !strings.Contains(svc, ".") {
		return nil, nil
	}
	fn := protoreflect.FullName(svc)
	if !fn.IsValid() {
		return nil, nil
	}
	d, err := t.res.FindDescriptorByName(fn)
	if err != nil {
		return nil, nil
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, nil
	}
	md := sd.Methods().ByName(protoreflect.Name(name))
	if md == nil {
		return nil, &httpError{http.StatusNotFound, codes.NotFound.String(),
			"httpadapter: service " + svc + " has no method " + strconv.Quote(name), 0}
	}
	full := "/" + svc + "/" + name
	m := &doraMethod{full: full, metrics: t.s.metrics.forRoute("dora:" + full), desc: md,
		stream: md.IsStreamingClient() || md.IsStreamingServer()}
	v, _ := t.methods.LoadOrStore(path, m) // bounded: one entry per method of a known service
	return v.(*doraMethod), nil
}

// serve transcodes one call. It returns the error to answer when nothing was written.
func (t *doraTranscoder) serve(w http.ResponseWriter, r *http.Request, m *doraMethod, sc *scratch) *httpError {
	if m.stream {
		return &httpError{http.StatusNotImplemented, codes.Unimplemented.String(),
			"httpadapter: " + m.full + " is a streaming method; only unary methods are served over HTTP/JSON", 0}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return &httpError{http.StatusMethodNotAllowed, CodeMethodNotAllowed,
			"httpadapter: " + m.full + " takes POST, not " + r.Method, 0}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &httpError{http.StatusUnsupportedMediaType, CodeUnsupportedMedia,
				"httpadapter: Content-Type " + strconv.Quote(ct) + " is not JSON", 0}
		}
	}
	body, herr := t.s.readBody(w, r, sc)
	if herr != nil {
		return herr
	}
	in := dynamicpb.NewMessage(m.desc.Input())
	if len(body) > 0 {
		if err := t.unmarshal.Unmarshal(body, in); err != nil {
			return &httpError{http.StatusBadRequest, codes.InvalidArgument.String(),
				"httpadapter: request body is not a valid " + string(m.desc.Input().FullName()) + ": " + err.Error(), 0}
		}
	}
	out := dynamicpb.NewMessage(m.desc.Output())

	var opts []dora.CallOption
	ctx, cancel := context.WithTimeout(r.Context(), t.s.cfg.callTimeout)
	defer cancel()
	md, herr := t.requestMetadata(r)
	if herr != nil {
		return herr
	}
	if md != nil {
		// In the context, not a call option: a tracing stats handler of the client (dora/otel)
		// sees a forwarded traceparent there and makes it its span's parent.
		ctx = metadata.NewOutgoingContext(ctx, md)
	}
	if f := t.s.cfg.doraHashKey; f != nil {
		opts = append(opts, dora.HashKey(f(r)))
	}
	var header metadata.MD
	if t.respAll || len(t.respHdr) > 0 {
		opts = append(opts, dora.Header(&header))
	}
	err := t.s.cfg.dora.Invoke(ctx, m.full, in, out, opts...)
	t.responseHeaders(w, header)
	if err != nil {
		if r.Context().Err() != nil {
			return &httpError{StatusClientClosedRequest, CodeCanceled, "httpadapter: client went away", 0}
		}
		st := status.Convert(err)
		e := &httpError{codes.HTTPStatus(st.Code()), st.Code().String(), st.Message(), 0}
		if d := st.AnyDetails(); len(d) > 0 {
			writeErrorDetails(w, e, t.detailsJSON(d))
		}
		return e
	}
	b, err := t.marshal.Marshal(out)
	if err != nil {
		return &httpError{http.StatusInternalServerError, codes.Internal.String(),
			"httpadapter: encoding the response as JSON: " + err.Error(), 0}
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}

// requestMetadata collects the allow-listed request headers; nil when none is present.
// Several header lines of one name become one value joined with ", " (as HTTP folds
// them), except for binary keys (ending in -bin): each of their lines is one value in
// base64 (standard alphabet, padded or not) and is sent as the bytes it encodes; a line
// that is not base64 is a 400.
func (t *doraTranscoder) requestMetadata(r *http.Request) (metadata.MD, *httpError) {
	var md metadata.MD
	for _, name := range t.reqHdr {
		vals := r.Header[name]
		if len(vals) == 0 {
			continue
		}
		if md == nil {
			md = make(metadata.MD, len(t.reqHdr))
		}
		key := strings.ToLower(name)
		if !metadata.IsBinary(key) {
			md[key] = []string{strings.Join(vals, ", ")}
			continue
		}
		bins := make([]string, 0, len(vals))
		for _, v := range vals {
			b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(v), "="))
			if err != nil {
				return nil, &httpError{http.StatusBadRequest, CodeBadRequest,
					"httpadapter: header " + name + " is a binary (-bin) header and its value is not base64", 0}
			}
			bins = append(bins, string(b))
		}
		md[key] = bins
	}
	return md, nil
}

// responseHeaders copies the allow-listed response header metadata to HTTP headers.
func (t *doraTranscoder) responseHeaders(w http.ResponseWriter, md metadata.MD) {
	for k, vs := range md {
		if len(vs) == 0 || metadata.IsReserved(k) || (!t.respAll && !t.respHdr[k]) {
			continue
		}
		bin := metadata.IsBinary(k)
		for i, v := range vs {
			if bin { // any bytes: unpadded standard base64, as grpc sends -bin values
				v = base64.RawStdEncoding.EncodeToString([]byte(v))
			}
			if i == 0 {
				w.Header().Set(k, v) // Set and Add put k in canonical form
			} else {
				w.Header().Add(k, v)
			}
		}
	}
}

// detailsJSON renders status details for an error body: the protojson form of each Any
// ({"@type": "type.googleapis.com/pkg.Msg", ...fields}) when its type resolves (the
// transcoder's resolver, else protoregistry.GlobalTypes), else {"@type": url,
// "value_base64": the message's bytes}.
func (t *doraTranscoder) detailsJSON(details []*anypb.Any) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(details))
	m := protojson.MarshalOptions{Resolver: t.marshal.Resolver}
	for _, a := range details {
		b, err := m.Marshal(a)
		if err != nil {
			b, _ = json.Marshal(struct {
				Type  string `json:"@type"`
				Value []byte `json:"value_base64"`
			}{a.GetTypeUrl(), a.GetValue()})
		}
		out = append(out, b)
	}
	return out
}
