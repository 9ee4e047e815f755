// Package servicestest tests the services setup the repository provides
// (scripts/services.sh) as an operator relies on it: the Redis it starts keeps every
// acknowledged write across a crash of the Redis process. It holds tests only.
package servicestest
