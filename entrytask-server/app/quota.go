package app

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/seed857a6cbd/pocket/entrytask-server/domain"
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
	q, err := s.QuotaOf(ctx, p.UserID)
	if err != nil {
		return err
	}
	n := q.For(op)
	key := string(op[0]) + ":" + strconv.FormatInt(p.UserID, 10)
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
	if q, ok := s.quotaCache.Get(userID); ok {
		return q, nil
	}
	q, err := s.quotas.QuotaOf(ctx, userID)
	switch {
	case errors.Is(err, domain.ErrQuotaNotFound):
		q = s.defaultQuota
	case err != nil:
		return domain.Quota{}, fmt.Errorf("app: looking up quota: %w", err)
	}
	s.quotaCache.Set(userID, q)
	return q, nil
}

// InvalidateQuota drops userID's cached quota, so a changed quota applies at the next call
// on this instance (other instances pick it up within the cache TTL).
func (s *Service) InvalidateQuota(userID int64) { s.quotaCache.Delete(userID) }
