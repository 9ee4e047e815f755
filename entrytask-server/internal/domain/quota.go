package domain

import "fmt"

// MaxQuota is the largest per-second quota; seeded quotas are capped at it.
const MaxQuota = 100000

// Quota is a user's allowance in calls per second.
type Quota struct {
	Read  int // reads per second, > 0
	Write int // writes (and deletes) per second, > 0
}

// SeededQuota is the quota of the seeded user whose numeric username is uid:
// read = min(MaxQuota, 3·uid+3), write = min(MaxQuota, uid+3).
func SeededQuota(uid int64) Quota {
	return Quota{Read: int(min(MaxQuota, 3*uid+3)), Write: int(min(MaxQuota, uid+3))}
}

// For returns the per-second limit for op (OpRead: Read; OpWrite: Write; else 0).
func (q Quota) For(op Op) int {
	switch op {
	case OpRead:
		return q.Read
	case OpWrite:
		return q.Write
	}
	return 0
}

// Validate returns ErrInvalidArgument (wrapped) unless both limits are in 1..MaxQuota.
func (q Quota) Validate() error {
	if q.Read < 1 || q.Read > MaxQuota {
		return fmt.Errorf("%w: read quota %d outside 1..%d", ErrInvalidArgument, q.Read, MaxQuota)
	}
	if q.Write < 1 || q.Write > MaxQuota {
		return fmt.Errorf("%w: write quota %d outside 1..%d", ErrInvalidArgument, q.Write, MaxQuota)
	}
	return nil
}

// Burst is the token-bucket burst for a per-second limit q: max(q/10, 1).
func Burst(q int) int { return max(q/10, 1) }
