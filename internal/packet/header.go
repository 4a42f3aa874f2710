package packet

import (
	"errors"
	"fmt"
	"io"
)

// ErrIncomplete reports that a buffer does not yet hold a complete fixed
// header; the caller should read more bytes and try again.
var ErrIncomplete = errors.New("packet: incomplete fixed header")

// ParseFixedHeader parses the fixed header at the start of buf and returns it
// with its encoded length (2 to 5 bytes). It returns ErrIncomplete when buf
// ends inside the header, and an error wrapping MalformedPacket when the
// Remaining Length runs past 4 bytes. It does not check the flags (Decode
// does) and does not keep buf.
func ParseFixedHeader(buf []byte) (FixedHeader, int, error) {
	if len(buf) < 2 {
		return FixedHeader{}, 0, ErrIncomplete
	}
	h := FixedHeader{Type: Type(buf[0] >> 4), Flags: buf[0] & 0x0F}
	v, n := 0, 0
	for shift := 0; ; shift += 7 {
		if n == 4 {
			return FixedHeader{}, 0, fmt.Errorf("packet: fixed header: remaining length: %w", MalformedPacket) // [MQTT-1.5.5-1]
		}
		if 1+n >= len(buf) {
			return FixedHeader{}, 0, ErrIncomplete
		}
		b := buf[1+n]
		n++
		v |= int(b&0x7F) << shift
		if b < 0x80 {
			if b == 0 && n > 1 { // a zero final byte means more bytes than needed
				return FixedHeader{}, 0, fmt.Errorf("packet: fixed header: remaining length not minimally encoded: %w", MalformedPacket) // [MQTT-1.5.5-1]
			}
			break
		}
	}
	h.Remaining = v
	return h, 1 + n, nil
}

// ReadPacket reads one whole packet from r, blocking until it has arrived,
// and decodes it at protocol level version (CONNECT is decoded whatever the
// version). A Remaining Length above maxSize is refused with an error wrapping
// PacketTooLarge before the body is read; maxSize <= 0 means no limit. The
// returned packet owns its memory. ReadPacket is meant for tests and simple
// clients; the broker frames packets itself with ParseFixedHeader.
func ReadPacket(r io.Reader, version byte, maxSize int) (Packet, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:1]); err != nil {
		return nil, err
	}
	n := 1
	for {
		if _, err := io.ReadFull(r, hdr[n:n+1]); err != nil {
			return nil, noEOF(err)
		}
		n++
		if hdr[n-1] < 0x80 || n == len(hdr) {
			break
		}
	}
	h, _, err := ParseFixedHeader(hdr[:n])
	if err != nil {
		return nil, err
	}
	if maxSize > 0 && h.Remaining > maxSize {
		return nil, fmt.Errorf("packet: remaining length %d exceeds %d: %w", h.Remaining, maxSize, PacketTooLarge)
	}
	body := make([]byte, h.Remaining)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, noEOF(err)
	}
	// body is not reused, so decoded fields may alias it.
	return Decode(h, body, version, false)
}

// noEOF turns io.EOF inside a packet into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Decode decodes body, the Remaining Length bytes that follow header h, at
// protocol level version (CONNECT is decoded whatever the version) and
// returns a newly allocated packet. It validates the reserved flag bits of
// every type. With cp false the packet aliases body; with cp true it does not.
func Decode(h FixedHeader, body []byte, version byte, cp bool) (Packet, error) {
	switch h.Type {
	case CONNECT:
		p := new(Connect)
		return p, p.Decode(h.Flags, body, cp)
	case CONNACK:
		p := new(Connack)
		return p, p.Decode(h.Flags, body, version, cp)
	case PUBLISH:
		p := new(Publish)
		return p, p.Decode(h.Flags, body, version, cp)
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		p := new(Ack)
		return p, p.Decode(h.Type, h.Flags, body, version, cp)
	case SUBSCRIBE:
		p := new(Subscribe)
		return p, p.Decode(h.Flags, body, version, cp)
	case SUBACK:
		p := new(Suback)
		return p, p.Decode(h.Flags, body, version, cp)
	case UNSUBSCRIBE:
		p := new(Unsubscribe)
		return p, p.Decode(h.Flags, body, version, cp)
	case UNSUBACK:
		p := new(Unsuback)
		return p, p.Decode(h.Flags, body, version, cp)
	case PINGREQ:
		p := new(Pingreq)
		return p, p.Decode(h.Flags, body)
	case PINGRESP:
		p := new(Pingresp)
		return p, p.Decode(h.Flags, body)
	case DISCONNECT:
		p := new(Disconnect)
		return p, p.Decode(h.Flags, body, version, cp)
	case AUTH:
		p := new(Auth)
		return p, p.Decode(h.Flags, body, version, cp)
	}
	return nil, fmt.Errorf("packet: fixed header: reserved packet type %d: %w", h.Type, MalformedPacket)
}

// AppendVarint appends v as a Variable Byte Integer. v must be between 0 and
// MaxRemainingLength.
func AppendVarint(dst []byte, v int) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// VarintSize returns the encoded length of v as a Variable Byte Integer.
func VarintSize(v int) int {
	switch {
	case v < 1<<7:
		return 1
	case v < 1<<14:
		return 2
	case v < 1<<21:
		return 3
	}
	return 4
}

// appendHeader appends a fixed header.
func appendHeader(dst []byte, t Type, flags byte, remaining int) []byte {
	return AppendVarint(append(dst, byte(t)<<4|flags), remaining)
}

// appendUint16 appends v big-endian.
func appendUint16(dst []byte, v uint16) []byte {
	return append(dst, byte(v>>8), byte(v))
}

// appendUint32 appends v big-endian.
func appendUint32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// appendString appends a length-prefixed UTF-8 string.
func appendString(dst []byte, s string) []byte {
	return append(appendUint16(dst, uint16(len(s))), s...)
}

// appendBytes appends length-prefixed binary data.
func appendBytes(dst []byte, b []byte) []byte {
	return append(appendUint16(dst, uint16(len(b))), b...)
}

// decodeError returns the error for a field of a packet that breaks a rule;
// it wraps rc.
func decodeError(packet, field string, rc ReasonCode) error {
	return fmt.Errorf("packet: %s: %s: %w", packet, field, rc)
}

// checkFlags returns an error wrapping MalformedPacket when the reserved
// flags of a packet are not want.
func checkFlags(packet string, flags, want byte) error {
	if flags != want {
		return fmt.Errorf("packet: %s: reserved flags %#04b: %w", packet, flags, MalformedPacket)
	}
	return nil
}
