package kv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/seed857a6cbd/pocket/entrytask-server/api"
	"github.com/seed857a6cbd/pocket/entrytask-server/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
	"github.com/seed857a6cbd/pocket/entrytask-server/wire"

	"github.com/seed857a6cbd/pocket/benchmarks/internal/kvgrpc"
)

// grpcFramework serves the same app.Service over grpc-go with its defaults (one HTTP/2
// connection per client, plaintext). Its handlers and interceptors do what etserver's
// (entrytask-server/api) do, call for call: logging at debug level, authentication of
// metadata `token` (and the legacy `username`) through app.Service.Authenticate for every
// method but Login, the read or write quota through app.Service.CheckQuota (over quota:
// ResourceExhausted with a `retry-after-ms` trailer), then the use case, with the same
// application statuses and the same mapping of errors to status codes.
//
// "grpc-workers" is the same with grpc.NumStreamWorkers(StreamWorkers), an experimental
// grpc-go option off by default: calls run on long-lived worker goroutines, as dora's do
// with its own experimental option dora.IdleCallWorkers (off by default since issue #18),
// instead of one new goroutine per call whose stack must grow again for every call
// (SQLite's and protobuf's frames need more than a new goroutine's stack). It is a
// control: it shows how much of the difference is that default alone.
type grpcFramework struct{ workers bool }

// StreamWorkers is grpc-workers' number of stream workers: the bound on idle call
// goroutines the RPC suite gives dora.IdleCallWorkers (benchmarks/rpc/dora.go).
const StreamWorkers = 256

func init() {
	Register(grpcFramework{})
	Register(grpcFramework{workers: true})
}

func (f grpcFramework) Name() string {
	if f.workers {
		return "grpc-workers"
	}
	return "grpc"
}

// grpcStore is kvgrpc.StoreServer on an app.Service.
type grpcStore struct {
	kvgrpc.UnimplementedStoreServer
	svc *app.Service
	log *slog.Logger
}

// grpcQuotaOp is the quota each method takes; methods absent take none.
var grpcQuotaOp = map[string]domain.Op{
	kvgrpc.Store_ReadSecureMessage_FullMethodName:   domain.OpRead,
	kvgrpc.Store_WriteSecureMessage_FullMethodName:  domain.OpWrite,
	kvgrpc.Store_DeleteSecureMessage_FullMethodName: domain.OpWrite,
}

// Statuses shared by every answer that carries them, as etserver's handlers share them.
var (
	grpcOK          = &kvpb.Status{}
	grpcIncorrect   = &kvpb.Status{Code: kvpb.CODE_INCORRECT_USERNAME_OR_PASSWORD, Message: "incorrect username or password"}
	grpcKeyNotExist = &kvpb.Status{Code: kvpb.CODE_KEY_NOT_EXIST, Message: "key does not exist"}
)

func (f grpcFramework) Serve(ln net.Listener, b *Backend) (io.Closer, error) {
	svc, err := service(b)
	if err != nil {
		return nil, err
	}
	st := &grpcStore{svc: svc, log: b.Logger}
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(st.logCalls, st.authenticate, st.rateLimit),
		grpc.MaxRecvMsgSize(wire.MaxRecvMsgSize(svc.ValueMaxBytes())),
	}
	if f.workers {
		opts = append(opts, grpc.NumStreamWorkers(StreamWorkers))
	}
	s := grpc.NewServer(opts...)
	kvgrpc.RegisterStoreServer(s, st)
	return startServing(ln, s.Serve, s.Stop), nil
}

type grpcPrincipalKey struct{}

// grpcPrincipalCtx is ctx with the authenticated caller, in one allocation (etserver's
// principalCtx).
type grpcPrincipalCtx struct {
	context.Context
	p app.Principal
}

func (c *grpcPrincipalCtx) Value(key any) any {
	if key == (grpcPrincipalKey{}) {
		return c
	}
	return c.Context.Value(key)
}

func grpcPrincipal(ctx context.Context) (app.Principal, error) {
	c, ok := ctx.Value(grpcPrincipalKey{}).(*grpcPrincipalCtx)
	if !ok {
		return app.Principal{}, domain.ErrUnauthenticated
	}
	return c.p, nil
}

// firstMD returns the first value of key in md, or "".
func firstMD(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (s *grpcStore) authenticate(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if info.FullMethod == kvgrpc.Store_Login_FullMethodName {
		return handler(ctx, req)
	}
	md, _ := metadata.FromIncomingContext(ctx)
	p, err := s.svc.Authenticate(ctx, firstMD(md, api.MDToken), firstMD(md, api.MDUsername))
	if err != nil {
		return nil, s.statusErr(ctx, info.FullMethod, err)
	}
	return handler(&grpcPrincipalCtx{Context: ctx, p: p}, req)
}

func (s *grpcStore) rateLimit(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	op, ok := grpcQuotaOp[info.FullMethod]
	if !ok {
		return handler(ctx, req)
	}
	p, err := grpcPrincipal(ctx)
	if err == nil {
		err = s.svc.CheckQuota(ctx, p, op)
	}
	if err != nil {
		return nil, s.statusErr(ctx, info.FullMethod, err)
	}
	return handler(ctx, req)
}

func (s *grpcStore) logCalls(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !s.log.Enabled(ctx, slog.LevelDebug) {
		return handler(ctx, req)
	}
	start := time.Now()
	resp, err := handler(ctx, req)
	s.log.LogAttrs(ctx, slog.LevelDebug, "call",
		slog.String("method", info.FullMethod),
		slog.String("code", status.Code(err).String()),
		slog.Duration("took", time.Since(start)))
	return resp, err
}

// statusErr is api's statusErr for grpc-go: the same codes and messages.
func (s *grpcStore) statusErr(ctx context.Context, method string, err error) error {
	var qe *domain.QuotaExceededError
	switch {
	case errors.As(err, &qe):
		ms := max((qe.RetryAfter+time.Millisecond-1)/time.Millisecond, 1)
		_ = grpc.SetTrailer(ctx, metadata.Pairs(api.MDRetryAfterMs, strconv.FormatInt(int64(ms), 10)))
		return status.Errorf(codes.ResourceExhausted, "etserver: %s quota of %d/s exceeded, retry after %s", qe.Op, qe.Limit, qe.RetryAfter)
	case errors.Is(err, domain.ErrUnauthenticated):
		return status.Error(codes.Unauthenticated, "etserver: unauthenticated: send the token Login returned in metadata \"token\"")
	case errors.Is(err, domain.ErrInvalidArgument):
		return status.Error(codes.InvalidArgument, "etserver: "+err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	s.log.LogAttrs(ctx, slog.LevelError, "call failed", slog.String("method", method), slog.String("err", err.Error()))
	return status.Error(codes.Internal, "etserver: internal error")
}

func (s *grpcStore) Login(ctx context.Context, req *kvpb.LoginReq) (*kvpb.LoginRsp, error) {
	res, err := s.svc.Login(ctx, req.GetUsername(), req.GetPassword())
	switch {
	case err == nil:
		return &kvpb.LoginRsp{Status: &kvpb.Status{}, Token: res.Token}, nil
	case errors.Is(err, domain.ErrIncorrectCredentials):
		return &kvpb.LoginRsp{Status: grpcIncorrect}, nil
	}
	return nil, s.statusErr(ctx, kvgrpc.Store_Login_FullMethodName, err)
}

func (s *grpcStore) WriteSecureMessage(ctx context.Context, req *kvpb.WriteSecureMessageReq) (*kvpb.WriteSecureMessageRsp, error) {
	p, err := grpcPrincipal(ctx)
	if err == nil {
		err = s.svc.Write(ctx, p, string(req.GetKey()), req.GetValue())
	}
	if err != nil {
		return nil, s.statusErr(ctx, kvgrpc.Store_WriteSecureMessage_FullMethodName, err)
	}
	return &kvpb.WriteSecureMessageRsp{Key: req.GetKey(), Value: req.GetValue()}, nil
}

func (s *grpcStore) ReadSecureMessage(ctx context.Context, req *kvpb.ReadSecureMessageReq) (*kvpb.ReadSecureMessageRsp, error) {
	p, err := grpcPrincipal(ctx)
	if err != nil {
		return nil, s.statusErr(ctx, kvgrpc.Store_ReadSecureMessage_FullMethodName, err)
	}
	v, err := s.svc.Read(ctx, p, string(req.GetKey()))
	switch {
	case err == nil:
		return &kvpb.ReadSecureMessageRsp{Status: grpcOK, Value: v}, nil
	case errors.Is(err, domain.ErrKeyNotExist):
		return &kvpb.ReadSecureMessageRsp{Status: grpcKeyNotExist}, nil
	}
	return nil, s.statusErr(ctx, kvgrpc.Store_ReadSecureMessage_FullMethodName, err)
}

func (s *grpcStore) DeleteSecureMessage(ctx context.Context, req *kvpb.DeleteSecureMessageReq) (*kvpb.DeleteSecureMessageRsp, error) {
	p, err := grpcPrincipal(ctx)
	if err == nil {
		err = s.svc.Delete(ctx, p, string(req.GetKey()))
	}
	switch {
	case err == nil:
		return &kvpb.DeleteSecureMessageRsp{Status: &kvpb.Status{}}, nil
	case errors.Is(err, domain.ErrKeyNotExist):
		return &kvpb.DeleteSecureMessageRsp{Status: grpcKeyNotExist}, nil
	}
	return nil, s.statusErr(ctx, kvgrpc.Store_DeleteSecureMessage_FullMethodName, err)
}

func (s *grpcStore) Logout(ctx context.Context, _ *kvpb.LogoutReq) (*kvpb.LogoutRsp, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if err := s.svc.Logout(ctx, firstMD(md, api.MDToken)); err != nil {
		return nil, s.statusErr(ctx, kvgrpc.Store_Logout_FullMethodName, err)
	}
	return &kvpb.LogoutRsp{Status: &kvpb.Status{}}, nil
}

type grpcClient struct {
	conn *grpc.ClientConn
	kv   kvgrpc.StoreClient
}

func (grpcFramework) Dial(addr string) (Client, error) {
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("kv: grpc: %w", err)
	}
	return &grpcClient{conn: conn, kv: kvgrpc.NewStoreClient(conn)}, nil
}

func (c *grpcClient) Login(ctx context.Context, username, password string) (string, error) {
	rsp, err := c.kv.Login(ctx, &kvpb.LoginReq{Username: username, Password: password})
	if err != nil {
		return "", grpcErr(err)
	}
	if rsp.GetStatus().GetCode() == kvpb.CODE_INCORRECT_USERNAME_OR_PASSWORD {
		return "", ErrIncorrectCredentials
	}
	return rsp.GetToken(), nil
}

func (c *grpcClient) WithToken(ctx context.Context, token string) context.Context {
	return metadata.NewOutgoingContext(ctx, metadata.Pairs(api.MDToken, token))
}

func (c *grpcClient) Read(ctx context.Context, key []byte) ([]byte, error) {
	rsp, err := c.kv.ReadSecureMessage(ctx, &kvpb.ReadSecureMessageReq{Key: key})
	if err != nil {
		return nil, grpcErr(err)
	}
	if rsp.GetStatus().GetCode() == kvpb.CODE_KEY_NOT_EXIST {
		return nil, ErrKeyNotExist
	}
	return rsp.GetValue(), nil
}

func (c *grpcClient) Write(ctx context.Context, key, value []byte) error {
	if _, err := c.kv.WriteSecureMessage(ctx, &kvpb.WriteSecureMessageReq{Key: key, Value: value}); err != nil {
		return grpcErr(err)
	}
	return nil
}

func (c *grpcClient) Close() error { return c.conn.Close() }

// grpcErr wraps the errors of the codes the load tells apart.
func grpcErr(err error) error {
	switch status.Code(err) {
	case codes.Unauthenticated:
		return fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	case codes.ResourceExhausted:
		return fmt.Errorf("%w: %w", ErrResourceExhausted, err)
	}
	return fmt.Errorf("kv: grpc: %w", err)
}
