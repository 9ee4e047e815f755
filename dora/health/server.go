package health

import (
	"context"
	"sync"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/status"
)

// DefaultMaxWatchers is how many Watch calls a Server runs at once unless MaxWatchers says
// otherwise. Each holds a goroutine and one pending status; dora's MaxServerCalls bounds
// them too.
const DefaultMaxWatchers = 1024

// MaxServiceName is the longest service name Check and Watch accept (1024 bytes); a longer
// one fails with InvalidArgument before anything is kept for it. Real names ("pkg.Service")
// are far shorter; the bound keeps what Watch calls hold small (MaxWatchers × 1 KiB).
const MaxServiceName = 1024

// Short names for the statuses.
const (
	Unknown        = HealthCheckResponse_UNKNOWN
	Serving        = HealthCheckResponse_SERVING
	NotServing     = HealthCheckResponse_NOT_SERVING
	ServiceUnknown = HealthCheckResponse_SERVICE_UNKNOWN
)

// Option configures a Server.
type Option func(*Server)

// MaxWatchers sets how many Watch calls may run at once (default DefaultMaxWatchers); a
// Watch past it fails with ResourceExhausted. n <= 0 keeps the default.
func MaxWatchers(n int) Option {
	return func(s *Server) {
		if n > 0 {
			s.maxWatchers = n
		}
	}
}

// Server implements HealthServer. The zero value is not usable; use NewServer. All methods
// are safe for concurrent use.
type Server struct {
	UnimplementedHealthServer

	maxWatchers int

	mu       sync.Mutex
	statuses map[string]HealthCheckResponse_ServingStatus
	watchers map[string]map[*watcher]struct{}
	nwatch   int
	shutdown bool
}

// watcher is one Watch call: it holds at most one status not yet sent (the latest).
type watcher struct {
	update chan HealthCheckResponse_ServingStatus // capacity 1: the latest status
	ended  chan struct{}                          // closed by Shutdown: send the update, then end
}

// NewServer returns a health server whose whole-server status ("") is SERVING; services
// are unknown until SetServingStatus names them.
func NewServer(opts ...Option) *Server {
	s := &Server{
		maxWatchers: DefaultMaxWatchers,
		statuses:    map[string]HealthCheckResponse_ServingStatus{"": Serving},
		watchers:    map[string]map[*watcher]struct{}{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// SetServingStatus sets the status of service ("" is the whole server) and tells its
// watchers. While the server is shut down it does nothing (Resume first), so that a
// component reporting SERVING during shutdown cannot undo Shutdown.
func (s *Server) SetServingStatus(service string, st HealthCheckResponse_ServingStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return
	}
	s.setLocked(service, st)
}

// ClearStatus forgets service: Check fails with NotFound for it again and its watchers see
// SERVICE_UNKNOWN. It works during shutdown too.
func (s *Server) ClearStatus(service string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.statuses, service)
	s.notifyLocked(service, ServiceUnknown)
}

// Shutdown sets every service NOT_SERVING and ignores SetServingStatus until Resume. Each
// running Watch call is sent NOT_SERVING and then ended with Unavailable, so that the
// dora server's GracefulStop does not wait for it. Call it before GracefulStop.
func (s *Server) Shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdown = true
	for service := range s.statuses {
		s.setLocked(service, NotServing)
	}
	for _, set := range s.watchers {
		for w := range set {
			select {
			case <-w.ended:
			default:
				close(w.ended)
			}
		}
	}
}

// Resume sets every service SERVING and lets SetServingStatus change statuses again.
func (s *Server) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdown = false
	for service := range s.statuses {
		s.setLocked(service, Serving)
	}
}

func (s *Server) setLocked(service string, st HealthCheckResponse_ServingStatus) {
	s.statuses[service] = st
	s.notifyLocked(service, st)
}

// notifyLocked replaces whatever status each watcher of service has not sent yet by st.
func (s *Server) notifyLocked(service string, st HealthCheckResponse_ServingStatus) {
	for w := range s.watchers[service] {
		select {
		case <-w.update: // drop the stale one: only the latest matters
		default:
		}
		w.update <- st // cannot block: the channel is empty and only we send, under s.mu
	}
}

// Check returns the status of in.Service, or NotFound when it was never set.
func (s *Server) Check(_ context.Context, in *HealthCheckRequest) (*HealthCheckResponse, error) {
	if err := checkName(in.GetService()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	st, ok := s.statuses[in.GetService()]
	s.mu.Unlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "health: unknown service %q", in.GetService())
	}
	return &HealthCheckResponse{Status: st}, nil
}

// Watch sends the status of in.Service now (SERVICE_UNKNOWN when never set) and at each
// change, until the call's context ends (its error's status is returned) or Shutdown ends
// it (Unavailable, after NOT_SERVING was sent).
func (s *Server) Watch(in *HealthCheckRequest, stream dora.ServerStreamingServer[HealthCheckResponse]) error {
	service := in.GetService()
	if err := checkName(service); err != nil {
		return err
	}
	w := &watcher{update: make(chan HealthCheckResponse_ServingStatus, 1), ended: make(chan struct{})}
	s.mu.Lock()
	if s.nwatch >= s.maxWatchers {
		s.mu.Unlock()
		return status.Errorf(codes.ResourceExhausted, "health: too many Watch calls (limit %d)", s.maxWatchers)
	}
	st, ok := s.statuses[service]
	if !ok {
		st = ServiceUnknown
	}
	w.update <- st
	if s.shutdown {
		close(w.ended)
	}
	set := s.watchers[service]
	if set == nil {
		set = map[*watcher]struct{}{}
		s.watchers[service] = set
	}
	set[w] = struct{}{}
	s.nwatch++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.watchers[service], w)
		if len(s.watchers[service]) == 0 {
			delete(s.watchers, service)
		}
		s.nwatch--
		s.mu.Unlock()
	}()

	ctx := stream.Context()
	last := HealthCheckResponse_ServingStatus(-1)
	send := func(st HealthCheckResponse_ServingStatus) error {
		if st == last {
			return nil // grpc sends changes only
		}
		last = st
		return stream.Send(&HealthCheckResponse{Status: st})
	}
	for {
		select {
		case st := <-w.update:
			if err := send(st); err != nil {
				return err
			}
		case <-w.ended:
			// Shutdown put NOT_SERVING in w.update before closing ended (or the Watch
			// began during shutdown with it): send what is pending, then end.
			select {
			case st := <-w.update:
				if err := send(st); err != nil {
					return err
				}
			default:
			}
			return status.Error(codes.Unavailable, "health: server shutting down")
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

func checkName(service string) error {
	if len(service) > MaxServiceName {
		return status.Errorf(codes.InvalidArgument, "health: service name of %d bytes, longer than %d", len(service), MaxServiceName)
	}
	return nil
}
