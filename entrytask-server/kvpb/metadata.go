package kvpb

// Metadata keys of kv.Store, part of the contract as the messages are: Login returns a token,
// and WriteSecureMessage, ReadSecureMessage, DeleteSecureMessage and Logout carry it in
// MDToken. Older clients also send MDUsername, which must then be the token's user.
const (
	// MDToken is the request metadata key carrying the session token.
	MDToken = "token"
	// MDUsername is the legacy request metadata key carrying the user name.
	MDUsername = "username"
	// MDRetryAfterMs is the response metadata key of a ResourceExhausted answer (over
	// quota): the milliseconds after which the same call would be allowed (at least 1).
	MDRetryAfterMs = "retry-after-ms"
)
