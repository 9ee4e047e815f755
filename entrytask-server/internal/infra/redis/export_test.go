package redis

// SetFillHook makes s run f in Get between a missed lookup's Redis read and its store
// into the value cache (nil: none). Set it before s is used.
func SetFillHook(s *Store, f func(key string)) { s.fillHook = f }

// SetValueCacheHooks makes s's value cache call watched after the watch turned it on or
// off, and invalidated after it dropped the keys of an invalidation message naming value
// keys (keys valid during the call only). Set them before the watch starts.
func SetValueCacheHooks(s *Store, watched func(on bool), invalidated func(keys []string)) {
	s.values.onWatched, s.values.onInvalidated = watched, invalidated
}
