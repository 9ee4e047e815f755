package app

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
)

// CheckQuota takes one token from p's bucket for op (domain.OpRead or domain.OpWrite; a
// Delete is a write). It is the hook the API layer's rate-limit interceptor calls after
// authentication. Over quota it returns a *domain.QuotaExceededError (errors.Is
// ErrQuotaExceeded) whose RetryAfter is the retry hint for the client.
//
// The quota comes from an LRU cache with a TTL in front of the Quotas store; a user
// without a quota row gets the configured default. The bucket holds max(q/10, 1) tokens.
func (s *Service) CheckQuota(ctx context.Context, p Principal, op domain.Op) error {
	if op != domain.OpRead && op != domain.OpWrite {
		return fmt.Errorf("app: CheckQuota: unknown op %q", op)
	}
	e, err := s.quotaEntry(ctx, p.UserID)
	if err != nil {
		return err
	}
	n, key := e.q.For(op), e.writeKey
	if op == domain.OpRead {
		key = e.readKey
	}
	d, err := s.limiter.Allow(ctx, key, domain.Limit{Rate: n, Burst: domain.Burst(n)})
	if err != nil {
		return fmt.Errorf("app: rate limiter: %w", err)
	}
	if !d.Allowed {
		return &domain.QuotaExceededError{Op: op, Limit: n, RetryAfter: d.RetryAfter}
	}
	return nil
}

// QuotaOf returns the user's quota through the cache, or the default quota when the user
// has none.
func (s *Service) QuotaOf(ctx context.Context, userID int64) (domain.Quota, error) {
	e, err := s.quotaEntry(ctx, userID)
	return e.q, err
}

// quotaEntry is what the quota cache holds for a user: the quota, and the names of the
// user's read and write buckets ("r:<id>", "w:<id>"), built once rather than per call.
type quotaEntry struct {
	q                 domain.Quota
	readKey, writeKey string
}

func (s *Service) quotaEntry(ctx context.Context, userID int64) (quotaEntry, error) {
	if e, ok := s.quotaCache.Get(userID); ok {
		return e, nil
	}
	q, err := s.quotas.QuotaOf(ctx, userID)
	switch {
	case errors.Is(err, domain.ErrQuotaNotFound):
		q = s.defaultQuota
	case err != nil:
		return quotaEntry{}, fmt.Errorf("app: looking up quota: %w", err)
	}
	id := strconv.FormatInt(userID, 10)
	e := quotaEntry{q: q, readKey: string(domain.OpRead[0]) + ":" + id, writeKey: string(domain.OpWrite[0]) + ":" + id}
	s.quotaCache.Set(userID, e)
	return e, nil
}

// InvalidateQuota drops userID's cached quota, so a changed quota applies at the next call
// on this instance (other instances pick it up within the cache TTL).
func (s *Service) InvalidateQuota(userID int64) { s.quotaCache.Delete(userID) }
