// Package domain holds etserver's entities (User, Session, Quota, key/value rules), its
// sentinel errors and the repository and rate-limiter interfaces the use cases depend on.
//
// It imports no database or network driver: the infra packages implement the interfaces and
// cmd/etserver wires them together. Every error returned by an implementation of an
// interface here must be testable with errors.Is against the sentinels in errors.go.
package domain
