package redis

// SetFillHook makes s run f in Get between a missed lookup's Redis read and its store
// into the value cache (nil: none). Set it before s is used.
func SetFillHook(s *Store, f func(key string)) { s.fillHook = f }

// ValueCacheStats returns the number of values s's value cache holds and the bytes they
// count; ok is false when the cache is off.
func ValueCacheStats(s *Store) (entries int, bytes int64, ok bool) {
	if s.values == nil {
		return 0, 0, false
	}
	entries, bytes = s.values.stats()
	return entries, bytes, true
}

// SetValueCacheHooks makes s's value cache call watched after the watch turned it on or
// off, and invalidated after it dropped the keys of an invalidation message naming value
// keys (keys valid during the call only). Set them before the watch starts.
func SetValueCacheHooks(s *Store, watched func(on bool), invalidated func(keys []string)) {
	s.values.onWatched, s.values.onInvalidated = watched, invalidated
}
