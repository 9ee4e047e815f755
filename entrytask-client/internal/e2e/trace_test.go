package e2e

import (
	"bytes"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpMaxBody bounds one export request the test receiver reads.
const otlpMaxBody = 4 << 20

// receivedSpan is one span an OTLP/HTTP exporter sent, with its resource's service.name.
type receivedSpan struct {
	service string
	span    *tracepb.Span
}

// otlpReceiver is an OTLP/HTTP traces endpoint on 127.0.0.1: it decodes every
// ExportTraceServiceRequest (protobuf) and keeps its spans.
type otlpReceiver struct {
	srv  *httptest.Server
	got  chan struct{} // signalled after each request
	mu   sync.Mutex
	errs []error
	recv []receivedSpan
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{got: make(chan struct{}, 1)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serveHTTP))
	t.Cleanup(r.srv.Close)
	return r
}

// URL is the traces endpoint to give otel.endpoint and --otel-endpoint.
func (r *otlpReceiver) URL() string { return r.srv.URL + "/v1/traces" }

func (r *otlpReceiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, otlpMaxBody))
	var msg coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(body, &msg)
	}
	r.mu.Lock()
	if err != nil || req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
		r.errs = append(r.errs, err)
	}
	for _, rs := range msg.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				r.recv = append(r.recv, receivedSpan{service, sp})
			}
		}
	}
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
	select {
	case r.got <- struct{}{}:
	default:
	}
}

// find returns the first span of service with this name and kind.
func (r *otlpReceiver) find(service, name string, kind tracepb.Span_SpanKind) *tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.recv {
		if s.service == service && s.span.GetName() == name && s.span.GetKind() == kind {
			return s.span
		}
	}
	return nil
}

// names lists the spans received, as "service:kind:name".
func (r *otlpReceiver) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.recv {
		out = append(out, s.service+":"+s.span.GetKind().String()+":"+s.span.GetName())
	}
	return out
}

// TestTrace: etserver with otel.endpoint (ETSERVER_OTEL_ENDPOINT) and the etclient binary
// with --otel-endpoint export to one OTLP/HTTP receiver; the read call's client span
// (service etclient) and server span (service etserver) are in one trace, the server
// span the child of the client span.
func TestTrace(t *testing.T) {
	rcv := startOTLPReceiver(t)
	data := t.TempDir()
	if err := etserverRun(bins.etserver, "seed", "--insecure-fast-hashes", "--users", "5", "--data-dir", data); err != nil {
		t.Fatal(err)
	}
	srv, err := startServer(bins.etserver, data, "ETSERVER_OTEL_ENDPOINT="+rcv.URL())
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = srv.Stop()
		}
	}()
	cmd := exec.Command(bins.etclient, "login,write,read", "-u", "3", "-p", "3", "-k", "traced", "-v", "v",
		"--server", srv.Addr, "--otel-endpoint", rcv.URL())
	cmd.Env = serverEnv()
	if out, err := cmd.CombinedOutput(); err != nil || bytes.Contains(out, []byte("otel")) {
		t.Fatalf("etclient login,write,read --otel-endpoint: %v\n%s", err, out)
	}
	// etclient flushed its spans before exiting; etserver flushes its own on SIGTERM.
	stopped = true
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	const name = "kv.Store/ReadSecureMessage" // etclient read
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	var client, server *tracepb.Span
	for {
		client = rcv.find("etclient", name, tracepb.Span_SPAN_KIND_CLIENT)
		server = rcv.find("etserver", name, tracepb.Span_SPAN_KIND_SERVER)
		if client != nil && server != nil {
			break
		}
		select {
		case <-rcv.got:
		case <-deadline.C:
			t.Fatalf("no %s client and server span pair after 20s (client %v, server %v); received: %s\netserver log:\n%s", name, client != nil, server != nil, rcv.names(), srv.Log())
		}
	}
	if !bytes.Equal(client.GetTraceId(), server.GetTraceId()) {
		t.Errorf("trace IDs differ: client %s, server %s", hex.EncodeToString(client.GetTraceId()), hex.EncodeToString(server.GetTraceId()))
	}
	if !bytes.Equal(server.GetParentSpanId(), client.GetSpanId()) {
		t.Errorf("server span's parent %s, want the client span %s", hex.EncodeToString(server.GetParentSpanId()), hex.EncodeToString(client.GetSpanId()))
	}
	if len(client.GetParentSpanId()) != 0 {
		t.Errorf("client span has parent %s, want a root span", hex.EncodeToString(client.GetParentSpanId()))
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.errs) > 0 {
		t.Errorf("bad export requests: %v", rcv.errs)
	}
}
