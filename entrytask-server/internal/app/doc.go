// Package app holds etserver's use cases: Login, Logout, Authenticate, Read, Write and
// Delete, the quota check the API layer runs after authentication (CheckQuota), account
// management (AddUser, ChangePassword, DeleteUser, SetUserQuota, ListUsers), and Seed.
//
// The use cases depend only on the domain interfaces; package wire (used by cmd/etserver)
// plugs in the MySQL+Redis or SQLite implementations from infra. Errors are the domain
// sentinels, wrapped with %w:
//
//	Login         ErrInvalidArgument, ErrIncorrectCredentials,
//	              ErrQuotaExceeded (*QuotaExceededError, Op login; Concurrent when no
//	              password-check slot freed within HashWait)
//	Authenticate  ErrUnauthenticated
//	Logout        ErrUnauthenticated
//	Read          ErrInvalidArgument, ErrKeyNotExist
//	Write         ErrInvalidArgument
//	Delete        ErrInvalidArgument, ErrKeyNotExist
//	CheckQuota    ErrQuotaExceeded (*QuotaExceededError with RetryAfter)
//	AddUser       ErrInvalidArgument, ErrUserExists, ErrQuotaExceeded (Concurrent)
//	ChangePassword ErrInvalidArgument, ErrUserNotFound, ErrQuotaExceeded (Concurrent)
//	DeleteUser    ErrInvalidArgument, ErrUserNotFound
//	SetUserQuota  ErrInvalidArgument, ErrUserNotFound
//	ListUsers     ErrInvalidArgument
//
// Any other error is a storage failure (the API layer reports it as Internal/Unavailable).
package app
