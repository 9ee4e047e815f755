package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
)

// Read returns the value of key in p's namespace: ErrInvalidArgument for a bad key size,
// ErrKeyNotExist when absent. It does not take quota; the API layer calls CheckQuota first.
func (s *Service) Read(ctx context.Context, p Principal, key string) ([]byte, error) {
	if err := domain.ValidateKey(key); err != nil {
		return nil, err
	}
	v, err := s.kv.Get(ctx, p.UserID, key)
	if err != nil {
		return nil, storeErr("reading", err)
	}
	return v, nil
}

// Write stores value under key in p's namespace: ErrInvalidArgument for a key outside
// 1..4096 bytes or a value over ValueMaxBytes. Once it returns nil the write is durable as
// the store promises. It does not take quota; the API layer calls CheckQuota first.
func (s *Service) Write(ctx context.Context, p Principal, key string, value []byte) error {
	if err := domain.ValidateKey(key); err != nil {
		return err
	}
	if err := domain.ValidateValue(value, s.valueMax); err != nil {
		return err
	}
	if err := s.kv.Put(ctx, p.UserID, key, value); err != nil {
		return storeErr("writing", err)
	}
	return nil
}

// Delete removes key from p's namespace: ErrInvalidArgument for a bad key size,
// ErrKeyNotExist when absent. It counts against the write quota (CheckQuota with OpWrite).
func (s *Service) Delete(ctx context.Context, p Principal, key string) error {
	if err := domain.ValidateKey(key); err != nil {
		return err
	}
	if err := s.kv.Delete(ctx, p.UserID, key); err != nil {
		return storeErr("deleting", err)
	}
	return nil
}

func storeErr(what string, err error) error {
	if errors.Is(err, domain.ErrKeyNotExist) {
		return err
	}
	return fmt.Errorf("app: %s key: %w", what, err)
}
