package nap

import (
	"encoding/binary"
	"unicode/utf8"
)

// frameHeader is the fixed 10-byte header that starts every frame.
type frameHeader struct {
	length   uint32 // payload length only
	streamID uint32 // 0 = the connection
	typ      frameType
	flags    uint8
}

// appendHeader appends the encoded header to dst.
func appendHeader(dst []byte, h frameHeader) []byte {
	return append(dst,
		byte(h.length>>24), byte(h.length>>16), byte(h.length>>8), byte(h.length),
		byte(h.streamID>>24), byte(h.streamID>>16), byte(h.streamID>>8), byte(h.streamID),
		byte(h.typ), h.flags)
}

// putHeader encodes h into b[:headerSize].
func putHeader(b []byte, h frameHeader) {
	_ = b[headerSize-1]
	binary.BigEndian.PutUint32(b[0:4], h.length)
	binary.BigEndian.PutUint32(b[4:8], h.streamID)
	b[8] = byte(h.typ)
	b[9] = h.flags
}

// parseHeader decodes b[:headerSize]; it never fails, validation is checkHeader.
func parseHeader(b []byte) frameHeader {
	_ = b[headerSize-1]
	return frameHeader{
		length:   binary.BigEndian.Uint32(b[0:4]),
		streamID: binary.BigEndian.Uint32(b[4:8]),
		typ:      frameType(b[8]),
		flags:    b[9],
	}
}

// checkHeader validates a header before any of its payload is read or any
// memory is allocated for it. maxFrame is our MaxFrameSize. legacy restricts
// the check to what a legacy peer may send. DATA payloads are limited by
// maxFrame, control frames by their own fixed sizes. It returns a protocol error
// (matching ErrProtocol) that says what was wrong.
func checkHeader(h frameHeader, maxFrame uint32, legacy bool) error {
	switch h.typ {
	case frameData:
		if h.length > maxFrame {
			return protocolErrorf("frame length %d exceeds limit %d", h.length, maxFrame)
		}
		if h.streamID == 0 {
			return protocolErrorf("DATA frame on stream 0")
		}
		if legacy {
			if h.flags != 0 {
				return protocolErrorf("legacy DATA frame on stream %d with flags 0x%x (want 0)", h.streamID, h.flags)
			}
			return nil
		}
		if h.flags&^(flagDataMore|flagDataEnd|flagDataSize) != 0 {
			return protocolErrorf("DATA frame on stream %d with unknown flags 0x%x", h.streamID, h.flags)
		}
		if h.flags&flagDataSize != 0 && (h.flags&flagDataMore == 0 || h.length < sizeHintLen) {
			return protocolErrorf("DATA frame on stream %d with SIZE needs MORE and at least %d bytes (flags 0x%x, length %d)",
				h.streamID, sizeHintLen, h.flags, h.length)
		}
		if h.flags&(flagDataMore|flagDataEnd) == flagDataMore|flagDataEnd {
			return protocolErrorf("DATA frame on stream %d has both MORE and END_STREAM", h.streamID)
		}
		if h.streamID > maxStreamID {
			return protocolErrorf("stream ID %d exceeds %d", h.streamID, uint32(maxStreamID))
		}
	case framePing:
		if h.streamID != 0 {
			return protocolErrorf("PING frame on stream %d (want 0)", h.streamID)
		}
		if h.length > maxPingPayload {
			return protocolErrorf("PING payload length %d exceeds %d", h.length, maxPingPayload)
		}
		if h.flags&^flagPingAck != 0 {
			return protocolErrorf("PING frame with unknown flags 0x%x", h.flags)
		}
	default:
		if legacy {
			return protocolErrorf("frame type 0x%x not allowed from a legacy peer", uint8(h.typ))
		}
		return checkControlHeader(h)
	}
	return nil
}

func checkControlHeader(h frameHeader) error {
	switch h.typ {
	case frameSettings:
		if h.streamID != 0 {
			return protocolErrorf("SETTINGS frame on stream %d (want 0)", h.streamID)
		}
		if h.flags != 0 {
			return protocolErrorf("SETTINGS frame with flags 0x%x (want 0)", h.flags)
		}
		if h.length < 2 || (h.length-2)%6 != 0 || h.length > 2+6*maxSettings {
			return protocolErrorf("SETTINGS payload length %d invalid (want 2+6n, n <= %d)", h.length, maxSettings)
		}
	case frameWindowUpdate:
		if h.length != 4 {
			return protocolErrorf("WINDOW_UPDATE payload length %d (want 4)", h.length)
		}
		if h.flags != 0 {
			return protocolErrorf("WINDOW_UPDATE frame with flags 0x%x (want 0)", h.flags)
		}
	case frameRstStream:
		if h.streamID == 0 {
			return protocolErrorf("RST_STREAM frame on stream 0")
		}
		if h.length != 4 {
			return protocolErrorf("RST_STREAM payload length %d (want 4)", h.length)
		}
		if h.flags != 0 {
			return protocolErrorf("RST_STREAM frame with flags 0x%x (want 0)", h.flags)
		}
	case frameGoAway:
		if h.streamID != 0 {
			return protocolErrorf("GOAWAY frame on stream %d (want 0)", h.streamID)
		}
		if h.length < 8 || h.length > 8+maxGoAwayDebug {
			return protocolErrorf("GOAWAY payload length %d invalid (want 8..%d)", h.length, 8+maxGoAwayDebug)
		}
		if h.flags != 0 {
			return protocolErrorf("GOAWAY frame with flags 0x%x (want 0)", h.flags)
		}
	default:
		return protocolErrorf("unknown frame type 0x%x", uint8(h.typ))
	}
	return nil
}

// appendSettings appends a complete SETTINGS frame announcing s.
func appendSettings(dst []byte, s settings) []byte {
	hints := uint32(0)
	if s.sizeHints {
		hints = 1
	}
	dst = appendHeader(dst, frameHeader{length: 2 + 6*6, typ: frameSettings})
	dst = binary.BigEndian.AppendUint16(dst, protocolVersion)
	for _, kv := range [...]struct {
		id uint16
		v  uint32
	}{
		{settingMaxFrameSize, s.maxFrameSize},
		{settingMaxMessageSize, s.maxMessageSize},
		{settingMaxConcurrentStreams, s.maxConcurrentStreams},
		{settingStreamWindow, s.streamWindow},
		{settingConnWindow, s.connWindow},
		{settingSizeHints, hints},
	} {
		dst = binary.BigEndian.AppendUint16(dst, kv.id)
		dst = binary.BigEndian.AppendUint32(dst, kv.v)
	}
	return dst
}

// parseSettings decodes a SETTINGS payload (length already checked by
// checkHeader). Missing values keep the protocol defaults; unknown IDs are
// ignored; out-of-range values are protocol errors.
func parseSettings(p []byte) (settings, error) {
	s := defaultSettings
	if len(p) < 2 || (len(p)-2)%6 != 0 {
		return s, protocolErrorf("SETTINGS payload length %d invalid", len(p))
	}
	if v := binary.BigEndian.Uint16(p); v != protocolVersion {
		return s, protocolErrorf("unsupported protocol version %d (want %d)", v, protocolVersion)
	}
	for p = p[2:]; len(p) >= 6; p = p[6:] {
		id, v := binary.BigEndian.Uint16(p), binary.BigEndian.Uint32(p[2:])
		switch id {
		case settingMaxFrameSize:
			if v < MinFrameSize || v > MaxFrameSizeLimit {
				return s, protocolErrorf("SETTINGS max frame size %d outside [%d, %d]", v, MinFrameSize, MaxFrameSizeLimit)
			}
			s.maxFrameSize = v
		case settingMaxMessageSize:
			if v == 0 || v > maxWindow {
				return s, protocolErrorf("SETTINGS max message size %d outside [1, %d]", v, maxWindow)
			}
			s.maxMessageSize = v
		case settingMaxConcurrentStreams:
			if v > maxWindow {
				return s, protocolErrorf("SETTINGS max concurrent streams %d exceeds %d", v, maxWindow)
			}
			s.maxConcurrentStreams = v
		case settingStreamWindow:
			if v == 0 || v > maxWindow {
				return s, flowControlErrorf("SETTINGS stream window %d outside [1, %d]", v, maxWindow)
			}
			s.streamWindow = v
		case settingConnWindow:
			if v == 0 || v > maxWindow {
				return s, flowControlErrorf("SETTINGS connection window %d outside [1, %d]", v, maxWindow)
			}
			s.connWindow = v
		case settingSizeHints:
			if v > 1 {
				return s, protocolErrorf("SETTINGS size hints %d (want 0 or 1)", v)
			}
			s.sizeHints = v == 1
		}
	}
	return s, nil
}

// appendWindowUpdate appends a WINDOW_UPDATE frame (streamID 0 = connection).
func appendWindowUpdate(dst []byte, streamID, incr uint32) []byte {
	dst = appendHeader(dst, frameHeader{length: 4, streamID: streamID, typ: frameWindowUpdate})
	return binary.BigEndian.AppendUint32(dst, incr)
}

// parseWindowUpdate decodes a WINDOW_UPDATE payload; increment 0 or above
// 2^31-1 is a protocol error.
func parseWindowUpdate(p []byte) (uint32, error) {
	if len(p) != 4 {
		return 0, protocolErrorf("WINDOW_UPDATE payload length %d (want 4)", len(p))
	}
	v := binary.BigEndian.Uint32(p)
	if v == 0 || v > maxWindow {
		return 0, flowControlErrorf("WINDOW_UPDATE increment %d outside [1, %d]", v, maxWindow)
	}
	return v, nil
}

// appendRstStream appends a RST_STREAM frame.
func appendRstStream(dst []byte, streamID uint32, code ErrorCode) []byte {
	dst = appendHeader(dst, frameHeader{length: 4, streamID: streamID, typ: frameRstStream})
	return binary.BigEndian.AppendUint32(dst, uint32(code))
}

// parseRstStream decodes a RST_STREAM payload.
func parseRstStream(p []byte) (ErrorCode, error) {
	if len(p) != 4 {
		return 0, protocolErrorf("RST_STREAM payload length %d (want 4)", len(p))
	}
	return ErrorCode(binary.BigEndian.Uint32(p)), nil
}

// appendGoAway appends a GOAWAY frame; debug is truncated to maxGoAwayDebug bytes.
func appendGoAway(dst []byte, lastID uint32, code ErrorCode, debug string) []byte {
	if len(debug) > maxGoAwayDebug {
		debug = debug[:maxGoAwayDebug]
	}
	dst = appendHeader(dst, frameHeader{length: uint32(8 + len(debug)), typ: frameGoAway})
	dst = binary.BigEndian.AppendUint32(dst, lastID)
	dst = binary.BigEndian.AppendUint32(dst, uint32(code))
	return append(dst, debug...)
}

// parseGoAway decodes a GOAWAY payload. The debug text is sanitised to valid UTF-8.
func parseGoAway(p []byte) (lastID uint32, code ErrorCode, debug string, err error) {
	if len(p) < 8 || len(p) > 8+maxGoAwayDebug {
		return 0, 0, "", protocolErrorf("GOAWAY payload length %d invalid", len(p))
	}
	lastID = binary.BigEndian.Uint32(p)
	code = ErrorCode(binary.BigEndian.Uint32(p[4:]))
	debug = string(p[8:])
	if !utf8.ValidString(debug) {
		debug = "(invalid UTF-8 debug text)"
	}
	return lastID, code, debug, nil
}

// appendPing appends a PING frame with an empty payload.
func appendPing(dst []byte, ack bool, payload []byte) []byte {
	var flags uint8
	if ack {
		flags = flagPingAck
	}
	dst = appendHeader(dst, frameHeader{length: uint32(len(payload)), typ: framePing, flags: flags})
	return append(dst, payload...)
}
