// Package api is etserver's RPC layer: the dora handlers of kv.Store (package kvpb) on the
// app use cases, and the server interceptors around them.
//
// Every call passes, in order: logging (outermost, so refused calls are logged too), then
// authentication (metadata `token`, and the legacy `username` which must then be the
// token's user; Login is exempt), then the rate limit keyed by the authenticated user
// (app.Service.CheckQuota: reads against the read quota, writes and deletes against the
// write quota), then the handler. Prometheus metrics are a dora.StatsHandler, so they see
// every call, including unknown methods and calls from legacy peers.
//
// Errors are mapped as the app layer documents them:
//
//	domain.ErrIncorrectCredentials  LoginRsp.status.code INCORRECT_USERNAME_OR_PASSWORD (call OK)
//	domain.ErrKeyNotExist           status.code KEY_NOT_EXIST (call OK)
//	domain.ErrUnauthenticated       codes.Unauthenticated
//	domain.ErrInvalidArgument       codes.InvalidArgument, the message names the limit
//	domain.ErrQuotaExceeded         codes.ResourceExhausted, metadata retry-after-ms
//	anything else                   codes.Internal (the cause is logged, not sent)
//
// Legacy peers get the same answers; dora translates the status to their numbering
// (Unauthenticated 6, InvalidArgument 2 BadRequest, ResourceExhausted 8 Unavailable,
// Internal 5), see dora's PROTOCOL.md §8.
package api
