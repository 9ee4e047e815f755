package app

// SetHashHook makes s call f each time a password check has its slot, before it runs
// (tests observe and hold checks with it). Call it before s is used.
func SetHashHook(s *Service, f func()) { s.hashHook = f }
