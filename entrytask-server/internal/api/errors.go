package api

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

// Metadata keys the API reads and writes: the contract's (package kvpb).
const (
	// MDToken is the request metadata key carrying the session token.
	MDToken = kvpb.MDToken
	// MDUsername is the legacy request metadata key; when present it must be the token's user.
	MDUsername = kvpb.MDUsername
	// MDRetryAfterMs is the response metadata key of a ResourceExhausted answer: the
	// milliseconds after which the same call would be allowed (at least 1).
	MDRetryAfterMs = kvpb.MDRetryAfterMs
)

// statusErr turns a use-case error that is not an application Status (credentials, missing
// key) into the dora status the client receives. Over quota it also sets the retry hint.
// Storage failures become Internal with a generic message; the cause is logged.
func statusErr(ctx context.Context, log *slog.Logger, method string, err error) error {
	var qe *domain.QuotaExceededError
	switch {
	case errors.As(err, &qe):
		setRetryHint(ctx, qe.RetryAfter)
		if qe.Concurrent {
			return status.Errorf(codes.ResourceExhausted, "etserver: busy: all %d password-check slots in use, retry after %s", qe.Limit, qe.RetryAfter)
		}
		return status.Errorf(codes.ResourceExhausted, "etserver: %s quota of %d/s exceeded, retry after %s", qe.Op, qe.Limit, qe.RetryAfter)
	case errors.Is(err, domain.ErrUnauthenticated):
		return status.Error(codes.Unauthenticated, "etserver: unauthenticated: send the token Login returned in metadata \"token\"")
	case errors.Is(err, domain.ErrInvalidArgument):
		return status.Error(codes.InvalidArgument, "etserver: "+err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	log.LogAttrs(ctx, slog.LevelError, "call failed", slog.String("method", method), slog.String("err", err.Error()))
	return status.Error(codes.Internal, "etserver: internal error")
}

// setRetryHint sends retry-after-ms, rounded up to whole milliseconds.
func setRetryHint(ctx context.Context, d time.Duration) {
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms < 1 {
		ms = 1
	}
	_ = dora.SetTrailer(ctx, metadata.Pairs(MDRetryAfterMs, strconv.FormatInt(int64(ms), 10)))
}
