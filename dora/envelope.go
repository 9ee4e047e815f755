package dora

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/wirepb"
)

// The envelope codec: every dora message travels as one Pkg (a Head with the method, status
// and metadata, then the payload), decoded here without copies (decodePkg) and encoded by
// appending to a buffer (appendPkg, appendPkgHead in bufpool.go). PROTOCOL.md §2 is the
// format.

// ProtocolVersion is the Head.version dora sends.
const ProtocolVersion = 1

// Reserved meta keys (see PROTOCOL.md).
const (
	// MetaStatus carries the decimal status code of a response ("0" or absent: OK).
	MetaStatus = "dora-status"
	// MetaMessage carries the status message of a failed call.
	MetaMessage = "dora-message"
)

// Field numbers of Pkg and Head (wirepb/wire.proto).
const (
	fieldPkgHead       = 1
	fieldPkgPayload    = 2
	fieldHeadVersion   = 1
	fieldHeadSerialize = 2
	fieldHeadSeq       = 3
	fieldHeadMethod    = 4
	fieldHeadMeta      = 5
	fieldHeadTimeout   = 6
	fieldHeadKind      = 7
	fieldHeadEntries   = 8
	fieldMapKey        = 1
	fieldMapValue      = 2
	fieldEntryKey      = 1
	fieldEntryValue    = 2
	fieldEntryTrailer  = 3
)

// Pkg kinds (wirepb.Kind).
const (
	kindUnary   = int32(wirepb.Kind_KIND_UNARY)
	kindOpen    = int32(wirepb.Kind_KIND_OPEN)
	kindMessage = int32(wirepb.Kind_KIND_MESSAGE)
	kindHeader  = int32(wirepb.Kind_KIND_HEADER)
	kindTrailer = int32(wirepb.Kind_KIND_TRAILER)
)

// metaSlab is how many Head.meta values decodePkg allocates at once.
const metaSlab = 4

// ErrMalformed is wrapped by every error about undecodable Pkg bytes.
var ErrMalformed = errors.New("dora: malformed Pkg")

// MaxMetadataSize bounds the metadata one Pkg may carry (Head.meta and Head.entries
// together), counted as HTTP/2 counts a header list: each entry's key and value lengths
// plus metadataEntryOverhead. A Pkg over it is refused as malformed before the rest of its
// metadata is decoded (a server answers InvalidArgument), so that a peer cannot turn a
// message of many tiny entries into ten times its size in maps and strings. 1 MiB.
const MaxMetadataSize = 1 << 20

// metadataEntryOverhead is what each metadata entry counts in MaxMetadataSize besides its
// key and value (HTTP/2's 32 bytes per header field).
const metadataEntryOverhead = 32

// errMetadataTooLarge is decodePkg's error for metadata over MaxMetadataSize.
var errMetadataTooLarge = fmt.Errorf("%w: metadata over %d bytes (key + value + %d per entry)", ErrMalformed, MaxMetadataSize, metadataEntryOverhead)

// errPlainValue is the one rule decodePkg adds to protobuf's: a Head.entries value is bytes
// on the wire, but only under a "-bin" key may it be other than UTF-8 (PROTOCOL.md §2).
var errPlainValue = fmt.Errorf("%w: Head.entries value is not UTF-8 and its key does not end in -bin", ErrMalformed)

// pkg is a decoded Pkg. Decoding does not copy: method, serializeType and payload alias the
// input bytes, which must stay untouched while the pkg is in use.
type pkg struct {
	version       int32
	serializeType []byte
	seq           uint64
	method        []byte
	meta          metadata.MD // Head.meta (one value per key); nil when the Head has none
	// Head.entries (PROTOCOL.md §2), user keys only: entries marked trailer in trailer, the
	// others in entries; hasEntries when there was at least one (then they, not meta, are
	// the user metadata).
	entries, trailer metadata.MD
	hasEntries       bool
	metaVals         []string // backing store of meta's values
	metaSize         int      // metadata decoded so far, counted against MaxMetadataSize
	timeoutUs        uint64
	kind             int32
	payload          []byte
}

// decodePkg decodes b with protobuf semantics identical to proto.Unmarshal into a
// wirepb.Pkg (last value wins, repeated Head fields merge, unknown fields and known fields
// of the wrong wire type are skipped, strings must be UTF-8), plus one rule of dora's
// (errPlainValue) and one bound (MaxMetadataSize); reserved keys in Head.entries are
// dropped. It never panics and allocates only for meta and entries.
func decodePkg(b []byte, p *pkg) error {
	*p = pkg{}
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return malformed("Pkg tag", n)
		}
		b = b[n:]
		switch {
		case num == fieldPkgHead && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return malformed("Pkg.head", n)
			}
			if err := decodeHead(v, p); err != nil {
				return err
			}
			b = b[n:]
		case num == fieldPkgPayload && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return malformed("Pkg.payload", n)
			}
			p.payload = v
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return malformed(fmt.Sprintf("Pkg field %d", num), n)
			}
			b = b[n:]
		}
	}
	return nil
}

func decodeHead(b []byte, p *pkg) error {
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return malformed("Head tag", n)
		}
		b = b[n:]
		if typ == protowire.VarintType && (num == fieldHeadVersion || num == fieldHeadSeq || num == fieldHeadTimeout || num == fieldHeadKind) {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return malformed("Head varint", n)
			}
			b = b[n:]
			switch num {
			case fieldHeadVersion:
				p.version = int32(v)
			case fieldHeadSeq:
				p.seq = v
			case fieldHeadTimeout:
				p.timeoutUs = v
			case fieldHeadKind:
				p.kind = int32(v)
			}
			continue
		}
		if typ == protowire.BytesType && (num == fieldHeadSerialize || num == fieldHeadMethod || num == fieldHeadMeta || num == fieldHeadEntries) {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return malformed("Head bytes field", n)
			}
			b = b[n:]
			switch num {
			case fieldHeadSerialize:
				if !utf8.Valid(v) {
					return fmt.Errorf("%w: Head.serialize_type is not UTF-8", ErrMalformed)
				}
				p.serializeType = v
			case fieldHeadMethod:
				if !utf8.Valid(v) {
					return fmt.Errorf("%w: Head.method is not UTF-8", ErrMalformed)
				}
				p.method = v
			case fieldHeadMeta:
				if err := decodeMetaEntry(v, p); err != nil {
					return err
				}
			case fieldHeadEntries:
				if err := decodeEntry(v, p); err != nil {
					return err
				}
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return malformed(fmt.Sprintf("Head field %d", num), n)
		}
		b = b[n:]
	}
	return nil
}

func decodeMetaEntry(b []byte, p *pkg) error {
	var key, val []byte
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return malformed("meta entry tag", n)
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == fieldMapKey || num == fieldMapValue) {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return malformed("meta entry", n)
			}
			b = b[n:]
			// Every occurrence is checked, not only the last one kept: proto.Unmarshal
			// rejects an invalid string even when a later one replaces it.
			if !utf8.Valid(v) {
				return fmt.Errorf("%w: Head.meta entry is not UTF-8", ErrMalformed)
			}
			if num == fieldMapKey {
				key = v
			} else {
				val = v
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return malformed(fmt.Sprintf("meta entry field %d", num), n)
		}
		b = b[n:]
	}
	if err := p.countMetadata(key, val); err != nil {
		return err
	}
	if p.meta == nil {
		p.meta = make(metadata.MD, 4)
	}
	// Each key's one value is a capacity-1 window on a shared slab: one allocation for
	// up to metaSlab keys instead of one per key (an Append by the user copies).
	if len(p.metaVals) == cap(p.metaVals) {
		p.metaVals = make([]string, 0, metaSlab)
	}
	// Key and value share one string: one allocation per entry instead of two.
	var kv strings.Builder
	kv.Grow(len(key) + len(val))
	kv.Write(key)
	kv.Write(val)
	both := kv.String()
	i := len(p.metaVals)
	p.metaVals = append(p.metaVals, both[len(key):])
	p.meta[both[:len(key)]] = p.metaVals[i : i+1 : i+1]
	return nil
}

// decodeEntry decodes one Head.entries element (wirepb.MetadataEntry). Reserved "dora-" keys
// are dropped (they live in meta only); a value that is not UTF-8 is refused unless its key
// ends in "-bin".
func decodeEntry(b []byte, p *pkg) error {
	var key, val []byte
	trailer := false
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return malformed("meta entry tag", n)
		}
		b = b[n:]
		switch {
		case typ == protowire.BytesType && (num == fieldEntryKey || num == fieldEntryValue):
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return malformed("Head.entries element", n)
			}
			b = b[n:]
			if num == fieldEntryKey {
				if !utf8.Valid(v) {
					return fmt.Errorf("%w: Head.entries key is not UTF-8", ErrMalformed)
				}
				key = v
			} else {
				val = v
			}
		case typ == protowire.VarintType && num == fieldEntryTrailer:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return malformed("Head.entries trailer", n)
			}
			b = b[n:]
			trailer = v != 0
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return malformed(fmt.Sprintf("Head.entries field %d", num), n)
			}
			b = b[n:]
		}
	}
	p.hasEntries = true
	if err := p.countMetadata(key, val); err != nil {
		return err
	}
	k := string(key)
	if metadata.IsReserved(k) {
		return nil
	}
	if !metadata.IsBinary(k) && !utf8.Valid(val) {
		return fmt.Errorf("%w (key %q)", errPlainValue, k)
	}
	dst := &p.entries
	if trailer {
		dst = &p.trailer
	}
	if *dst == nil {
		*dst = make(metadata.MD, 4)
	}
	(*dst)[k] = append((*dst)[k], string(val))
	return nil
}

// countMetadata counts one metadata entry against MaxMetadataSize.
func (p *pkg) countMetadata(key, val []byte) error {
	p.metaSize += len(key) + len(val) + metadataEntryOverhead
	if p.metaSize > MaxMetadataSize {
		return errMetadataTooLarge
	}
	return nil
}

// userMD returns the user metadata of p: its entries (header and trailer together) when it
// has any, else the non-reserved keys of meta.
func (p *pkg) userMD() metadata.MD {
	if !p.hasEntries {
		return userMeta(p.meta)
	}
	if len(p.trailer) == 0 {
		return p.entries
	}
	if len(p.entries) == 0 {
		return p.trailer
	}
	return metadata.Join(p.entries, p.trailer)
}

// headerTrailer returns the header and trailer metadata of a unary response: from its
// entries when it has any, else (a previous-version server, which merges them) the user
// keys of meta as both.
func (p *pkg) headerTrailer() (header, trailer metadata.MD) {
	if !p.hasEntries {
		md := userMeta(p.meta)
		return md, md
	}
	return p.entries, p.trailer
}

// errFieldNumber is consumeTag's error code for a field number out of range (protowire's
// codes are small negative numbers).
const errFieldNumber = -1000

// consumeTag is protowire.ConsumeTag that also refuses field numbers above
// protowire.MaxValidNumber, as proto.Unmarshal does.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n >= 0 && num > protowire.MaxValidNumber {
		return 0, 0, errFieldNumber
	}
	return num, typ, n
}

func malformed(what string, n int) error {
	if n == errFieldNumber {
		return fmt.Errorf("%w: %s: invalid field number", ErrMalformed, what)
	}
	return fmt.Errorf("%w: %s: %v", ErrMalformed, what, protowire.ParseError(n))
}

// outHead is the Head of a Pkg to encode.
type outHead struct {
	serializeType string
	seq           uint64
	method        string
	timeoutUs     uint64
	kind          int32
	// meta: user metadata (a unary response's header), then trailerMeta (a unary
	// response's trailer), then reserved keys (status, message); a key present in several
	// is written once in Head.meta, from the last. Head.entries repeat meta and trailerMeta
	// in full (PROTOCOL.md §2) when entries is set or one of them needs it, unless legacy.
	meta, trailerMeta metadata.MD
	entries, legacy   bool
	status            uint32 // written as dora-status when != 0
	message           string // written as dora-message when != ""
	details           string // written as dora-details-bin when != ""
	// encoding and acceptEncoding are written as dora-encoding and dora-accept-encoding
	// when != "".
	encoding, acceptEncoding string
	noHead                   bool // write no Head at all (stream messages after the first)
}

func (h *outHead) metaEntrySize(k, v string) int {
	n := protowire.SizeTag(fieldMapKey) + protowire.SizeBytes(len(k)) +
		protowire.SizeTag(fieldMapValue) + protowire.SizeBytes(len(v))
	return protowire.SizeTag(fieldHeadMeta) + protowire.SizeBytes(n)
}

func appendMetaEntry(b []byte, k, v string) []byte {
	n := protowire.SizeTag(fieldMapKey) + protowire.SizeBytes(len(k)) +
		protowire.SizeTag(fieldMapValue) + protowire.SizeBytes(len(v))
	b = protowire.AppendTag(b, fieldHeadMeta, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	b = protowire.AppendTag(b, fieldMapKey, protowire.BytesType)
	b = protowire.AppendString(b, k)
	b = protowire.AppendTag(b, fieldMapValue, protowire.BytesType)
	return protowire.AppendString(b, v)
}

var smallCodes = [...]string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16"}

// statusString formats a status code, without allocating for the canonical ones.
func statusString(c uint32) string {
	if int(c) < len(smallCodes) {
		return smallCodes[c]
	}
	return strconv.FormatUint(uint64(c), 10)
}

// size returns the encoded size of the Head and whether it carries Head.entries
// (see needsEntries), decided in the same pass over the metadata.
func (h *outHead) size(statusStr string) (n int, entries bool) {
	entries = h.entries
	n += protowire.SizeTag(fieldHeadVersion) + protowire.SizeVarint(ProtocolVersion)
	if h.serializeType != "" {
		n += protowire.SizeTag(fieldHeadSerialize) + protowire.SizeBytes(len(h.serializeType))
	}
	if h.seq != 0 {
		n += protowire.SizeTag(fieldHeadSeq) + protowire.SizeVarint(h.seq)
	}
	if h.method != "" {
		n += protowire.SizeTag(fieldHeadMethod) + protowire.SizeBytes(len(h.method))
	}
	for k, vs := range h.meta {
		if v, ok := h.legacyValue(k, vs, true); ok {
			n += h.metaEntrySize(k, v)
		}
		entries = entries || needsEntries(k, vs)
	}
	for k, vs := range h.trailerMeta {
		if v, ok := h.legacyValue(k, vs, false); ok {
			n += h.metaEntrySize(k, v)
		}
		entries = entries || needsEntries(k, vs)
	}
	entries = entries && !h.legacy
	if h.status != 0 {
		n += h.metaEntrySize(MetaStatus, statusStr)
	}
	if h.message != "" {
		n += h.metaEntrySize(MetaMessage, h.message)
	}
	if h.details != "" {
		n += h.metaEntrySize(MetaDetails, h.details)
	}
	if h.encoding != "" {
		n += h.metaEntrySize(MetaEncoding, h.encoding)
	}
	if h.acceptEncoding != "" {
		n += h.metaEntrySize(MetaAcceptEncoding, h.acceptEncoding)
	}
	if h.timeoutUs != 0 {
		n += protowire.SizeTag(fieldHeadTimeout) + protowire.SizeVarint(h.timeoutUs)
	}
	if h.kind != 0 {
		n += protowire.SizeTag(fieldHeadKind) + protowire.SizeVarint(uint64(h.kind))
	}
	if entries {
		n += entriesSize(h.meta, false) + entriesSize(h.trailerMeta, true)
	}
	return n, entries
}

// legacyValue returns the Head.meta value of user key k with values vs (the first value,
// base64 when it is not UTF-8), and false when k is not written there: no value, a
// reserved key the head writes itself, or (fromHeader) a key trailerMeta overrides.
func (h *outHead) legacyValue(k string, vs []string, fromHeader bool) (string, bool) {
	if len(vs) == 0 || (k == MetaStatus && h.status != 0) || (k == MetaMessage && h.message != "") || (k == MetaDetails && h.details != "") ||
		(k == MetaEncoding && h.encoding != "") || (k == MetaAcceptEncoding && h.acceptEncoding != "") {
		return "", false
	}
	if fromHeader && len(h.trailerMeta[k]) > 0 {
		return "", false
	}
	if !utf8.ValidString(vs[0]) {
		return base64.RawStdEncoding.EncodeToString([]byte(vs[0])), true
	}
	return vs[0], true
}

// needsEntries reports whether Head.meta cannot say user key k's values vs: several
// values, or one that is not UTF-8. With h.entries (a unary response with metadata, whose
// header and trailer a current client tells apart) or this, a head carries Head.entries,
// except toward legacy peers.
func needsEntries(k string, vs []string) bool {
	return (len(vs) > 1 || (len(vs) == 1 && !utf8.ValidString(vs[0]))) && !metadata.IsReserved(k)
}

func entrySize(k, v string, trailer bool) int {
	n := protowire.SizeTag(fieldEntryKey) + protowire.SizeBytes(len(k)) +
		protowire.SizeTag(fieldEntryValue) + protowire.SizeBytes(len(v))
	if trailer {
		n += protowire.SizeTag(fieldEntryTrailer) + 1
	}
	return n
}

func entriesSize(md metadata.MD, trailer bool) int {
	n := 0
	for k, vs := range md {
		if metadata.IsReserved(k) {
			continue
		}
		for _, v := range vs {
			n += protowire.SizeTag(fieldHeadEntries) + protowire.SizeBytes(entrySize(k, v, trailer))
		}
	}
	return n
}

func appendEntries(b []byte, md metadata.MD, trailer bool) []byte {
	for k, vs := range md {
		if metadata.IsReserved(k) {
			continue
		}
		for _, v := range vs {
			b = protowire.AppendTag(b, fieldHeadEntries, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(entrySize(k, v, trailer)))
			b = protowire.AppendTag(b, fieldEntryKey, protowire.BytesType)
			b = protowire.AppendString(b, k)
			b = protowire.AppendTag(b, fieldEntryValue, protowire.BytesType)
			b = protowire.AppendString(b, v)
			if trailer {
				b = protowire.AppendTag(b, fieldEntryTrailer, protowire.VarintType)
				b = protowire.AppendVarint(b, 1)
			}
		}
	}
	return b
}

// appendPkg appends the encoding of a Pkg with head h and payload to b. A nil payload is
// omitted; an empty non-nil one too (proto3 cannot tell them apart).
func appendPkg(b []byte, h *outHead, payload []byte) []byte {
	if !h.noHead {
		statusStr := ""
		if h.status != 0 {
			statusStr = statusString(h.status)
		}
		size, entries := h.size(statusStr)
		b = protowire.AppendTag(b, fieldPkgHead, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(size))
		b = protowire.AppendTag(b, fieldHeadVersion, protowire.VarintType)
		b = protowire.AppendVarint(b, ProtocolVersion)
		if h.serializeType != "" {
			b = protowire.AppendTag(b, fieldHeadSerialize, protowire.BytesType)
			b = protowire.AppendString(b, h.serializeType)
		}
		if h.seq != 0 {
			b = protowire.AppendTag(b, fieldHeadSeq, protowire.VarintType)
			b = protowire.AppendVarint(b, h.seq)
		}
		if h.method != "" {
			b = protowire.AppendTag(b, fieldHeadMethod, protowire.BytesType)
			b = protowire.AppendString(b, h.method)
		}
		for k, vs := range h.meta {
			if v, ok := h.legacyValue(k, vs, true); ok {
				b = appendMetaEntry(b, k, v)
			}
		}
		for k, vs := range h.trailerMeta {
			if v, ok := h.legacyValue(k, vs, false); ok {
				b = appendMetaEntry(b, k, v)
			}
		}
		if h.status != 0 {
			b = appendMetaEntry(b, MetaStatus, statusStr)
		}
		if h.message != "" {
			b = appendMetaEntry(b, MetaMessage, h.message)
		}
		if h.details != "" {
			b = appendMetaEntry(b, MetaDetails, h.details)
		}
		if h.encoding != "" {
			b = appendMetaEntry(b, MetaEncoding, h.encoding)
		}
		if h.acceptEncoding != "" {
			b = appendMetaEntry(b, MetaAcceptEncoding, h.acceptEncoding)
		}
		if h.timeoutUs != 0 {
			b = protowire.AppendTag(b, fieldHeadTimeout, protowire.VarintType)
			b = protowire.AppendVarint(b, h.timeoutUs)
		}
		if h.kind != 0 {
			b = protowire.AppendTag(b, fieldHeadKind, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(h.kind))
		}
		if entries {
			b = appendEntries(b, h.meta, false)
			b = appendEntries(b, h.trailerMeta, true)
		}
	}
	if len(payload) > 0 {
		b = protowire.AppendTag(b, fieldPkgPayload, protowire.BytesType)
		b = protowire.AppendBytes(b, payload)
	}
	return b
}
