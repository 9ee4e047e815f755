// Package etserver holds etserver, a per-user key-value service with accounts, sessions and quotas on MySQL and Redis, or an embedded store.
//
// This module is under construction; see README.md for its status.
package etserver
