package packet

import (
	"unicode/utf8"
	"unsafe"
)

// reader is a decoding cursor over a packet body. Its methods report false
// when the body ends too early or, for strings, when the text is not
// well-formed; the caller turns that into an error naming the field.
type reader struct {
	buf []byte
	pos int
	cp  bool // copy strings and bytes instead of aliasing buf
}

// len returns the number of unread bytes.
func (r *reader) len() int { return len(r.buf) - r.pos }

// readByte reads one byte.
func (r *reader) readByte() (byte, bool) {
	if r.pos >= len(r.buf) {
		return 0, false
	}
	b := r.buf[r.pos]
	r.pos++
	return b, true
}

// readUint16 reads a big-endian Two Byte Integer.
func (r *reader) readUint16() (uint16, bool) {
	if len(r.buf)-r.pos < 2 {
		return 0, false
	}
	v := uint16(r.buf[r.pos])<<8 | uint16(r.buf[r.pos+1])
	r.pos += 2
	return v, true
}

// readUint32 reads a big-endian Four Byte Integer.
func (r *reader) readUint32() (uint32, bool) {
	if len(r.buf)-r.pos < 4 {
		return 0, false
	}
	b := r.buf[r.pos : r.pos+4]
	r.pos += 4
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), true
}

// readVarint reads a Variable Byte Integer of at most 4 bytes [MQTT-1.5.5-1].
func (r *reader) readVarint() (int, bool) {
	v := 0
	for i := 0; i < 4; i++ {
		if r.pos >= len(r.buf) {
			return 0, false
		}
		b := r.buf[r.pos]
		r.pos++
		v |= int(b&0x7F) << (7 * i)
		if b < 0x80 {
			if b == 0 && i > 0 {
				return 0, false // not minimally encoded [MQTT-1.5.5-1]
			}
			return v, true
		}
	}
	return 0, false
}

// readRaw reads length-prefixed data and returns it aliasing buf.
func (r *reader) readRaw() ([]byte, bool) {
	n, ok := r.readUint16()
	if !ok || int(n) > len(r.buf)-r.pos {
		return nil, false
	}
	b := r.buf[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return b, true
}

// readBytes reads Binary Data, copied if r.cp. Empty data is nil.
func (r *reader) readBytes() ([]byte, bool) {
	b, ok := r.readRaw()
	if !ok {
		return nil, false
	}
	return r.bytes(b), true
}

// readString reads a UTF-8 Encoded String, which must be well-formed and
// free of U+0000 [MQTT-1.5.4-1] [MQTT-1.5.4-2].
func (r *reader) readString() (string, bool) {
	b, ok := r.readRaw()
	if !ok || !validUTF8(b) {
		return "", false
	}
	return r.string(b), true
}

// rest returns the unread bytes, copied if r.cp, and consumes them.
func (r *reader) rest() []byte {
	b := r.buf[r.pos:]
	r.pos = len(r.buf)
	return r.bytes(b)
}

// bytes returns b, copied if r.cp; empty data is nil.
func (r *reader) bytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	if r.cp {
		return append([]byte(nil), b...)
	}
	return b
}

// string returns b as a string, aliasing b unless r.cp.
func (r *reader) string(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if r.cp {
		return string(b)
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// validUTF8 reports whether b is well-formed UTF-8 without U+0000.
func validUTF8(b []byte) bool {
	ascii := true
	for _, c := range b {
		if c == 0 {
			return false
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	return ascii || utf8.Valid(b)
}
