package codes

// LegacyCode is a status code in the numbering of legacy (pre-dora) clients, as carried in
// their `dora-status` meta key.
type LegacyCode uint32

// The legacy numbering.
const (
	LegacyOk                  LegacyCode = 0
	LegacyUnimplemented       LegacyCode = 1
	LegacyBadRequest          LegacyCode = 2
	LegacyNotFound            LegacyCode = 3
	LegacyPermissionDenied    LegacyCode = 4
	LegacyInternal            LegacyCode = 5
	LegacyUnauthenticated     LegacyCode = 6
	LegacyUnknown             LegacyCode = 7
	LegacyUnavailable         LegacyCode = 8
	LegacyInternalServerError LegacyCode = 9
	LegacyOutOfRange          LegacyCode = 10
)

var legacyNames = [...]string{
	LegacyOk:                  "Ok",
	LegacyUnimplemented:       "Unimplemented",
	LegacyBadRequest:          "BadRequest",
	LegacyNotFound:            "NotFound",
	LegacyPermissionDenied:    "PermissionDenied",
	LegacyInternal:            "Internal",
	LegacyUnauthenticated:     "Unauthenticated",
	LegacyUnknown:             "Unknown",
	LegacyUnavailable:         "Unavailable",
	LegacyInternalServerError: "InternalServerError",
	LegacyOutOfRange:          "OutOfRange",
}

// String returns the legacy name of c ("BadRequest"), or "LegacyCode(N)" when unknown.
func (c LegacyCode) String() string {
	if int(c) < len(legacyNames) {
		return legacyNames[c]
	}
	return "Legacy" + Code(c).String()
}

// toLegacy maps every canonical code to the legacy code a legacy client understands best.
var toLegacy = [...]LegacyCode{
	OK:                 LegacyOk,
	Canceled:           LegacyUnknown,
	Unknown:            LegacyUnknown,
	InvalidArgument:    LegacyBadRequest,
	DeadlineExceeded:   LegacyUnavailable,
	NotFound:           LegacyNotFound,
	AlreadyExists:      LegacyBadRequest,
	PermissionDenied:   LegacyPermissionDenied,
	ResourceExhausted:  LegacyUnavailable,
	FailedPrecondition: LegacyBadRequest,
	Aborted:            LegacyUnavailable,
	OutOfRange:         LegacyOutOfRange,
	Unimplemented:      LegacyUnimplemented,
	Internal:           LegacyInternal,
	Unavailable:        LegacyUnavailable,
	DataLoss:           LegacyInternalServerError,
	Unauthenticated:    LegacyUnauthenticated,
}

// fromLegacy maps every legacy code to its canonical code.
var fromLegacy = [...]Code{
	LegacyOk:                  OK,
	LegacyUnimplemented:       Unimplemented,
	LegacyBadRequest:          InvalidArgument,
	LegacyNotFound:            NotFound,
	LegacyPermissionDenied:    PermissionDenied,
	LegacyInternal:            Internal,
	LegacyUnauthenticated:     Unauthenticated,
	LegacyUnknown:             Unknown,
	LegacyUnavailable:         Unavailable,
	LegacyInternalServerError: Internal,
	LegacyOutOfRange:          OutOfRange,
}

// ToLegacy returns the legacy code sent to a legacy peer for c. Codes without a legacy
// counterpart map to the nearest one (InvalidArgument, AlreadyExists and FailedPrecondition
// to BadRequest; DeadlineExceeded, ResourceExhausted and Aborted to Unavailable; Canceled to
// Unknown; DataLoss to InternalServerError); a code outside the canonical list maps to Unknown.
func ToLegacy(c Code) LegacyCode {
	if c <= maxCode {
		return toLegacy[c]
	}
	return LegacyUnknown
}

// FromLegacy returns the canonical code for a legacy code (BadRequest is InvalidArgument,
// InternalServerError is Internal); an unknown legacy code maps to Unknown.
func FromLegacy(c LegacyCode) Code {
	if int(c) < len(fromLegacy) {
		return fromLegacy[c]
	}
	return Unknown
}
