package main

import (
	"bufio"
	"errors"
	"io"
)

// The raw attackers write MQTT by hand: the bytes are the point, and this
// keeps the benchmark a black box, independent of the broker's own codec.

// MQTT protocol levels.
const (
	v311 byte = 4
	v5   byte = 5
)

// Control packet types, as the first byte's high nibble.
const (
	typeConnect    byte = 1
	typeConnack    byte = 2
	typePublish    byte = 3
	typePuback     byte = 4
	typeSubscribe  byte = 8
	typeSuback     byte = 9
	typePingreq    byte = 12
	typeDisconnect byte = 14
)

// appendVarint appends an MQTT Variable Byte Integer.
func appendVarint(dst []byte, n int) []byte {
	for {
		b := byte(n & 0x7F)
		n >>= 7
		if n > 0 {
			b |= 0x80
		}
		dst = append(dst, b)
		if n == 0 {
			return dst
		}
	}
}

func appendString(dst []byte, s string) []byte {
	return append(append(dst, byte(len(s)>>8), byte(len(s))), s...)
}

// packetOf frames body behind a fixed header.
func packetOf(first byte, body []byte) []byte {
	return append(appendVarint([]byte{first}, len(body)), body...)
}

// connectPacket encodes a clean-start CONNECT. props are the encoded MQTT 5
// properties without their length (ignored below v5); a user name is sent
// when user is not empty, a password when pass is not empty.
func connectPacket(version byte, clientID string, keepAlive uint16, props []byte, user, pass string) []byte {
	flags := byte(0x02)
	if user != "" {
		flags |= 0x80
	}
	if pass != "" {
		flags |= 0x40
	}
	body := appendString(nil, "MQTT")
	body = append(body, version, flags, byte(keepAlive>>8), byte(keepAlive))
	if version == v5 {
		body = append(appendVarint(body, len(props)), props...)
	}
	body = appendString(body, clientID)
	if user != "" {
		body = appendString(body, user)
	}
	if pass != "" {
		body = appendString(body, pass)
	}
	return packetOf(typeConnect<<4, body)
}

// publishPacket encodes a PUBLISH; id is used for QoS 1 and 2.
func publishPacket(version byte, topic string, qos byte, retain bool, id uint16, payload []byte) []byte {
	first := typePublish<<4 | qos<<1
	if retain {
		first |= 1
	}
	body := appendString(nil, topic)
	if qos > 0 {
		body = append(body, byte(id>>8), byte(id))
	}
	if version == v5 {
		body = append(body, 0) // no properties
	}
	return packetOf(first, append(body, payload...))
}

// subscribePacket encodes a SUBSCRIBE of filters, all at one QoS.
func subscribePacket(version byte, id uint16, qos byte, filters ...string) []byte {
	body := []byte{byte(id >> 8), byte(id)}
	if version == v5 {
		body = append(body, 0) // no properties
	}
	for _, f := range filters {
		body = append(appendString(body, f), qos)
	}
	return packetOf(typeSubscribe<<4|0x02, body)
}

// pingreq is a PINGREQ packet.
var pingreq = []byte{typePingreq << 4, 0}

// errMalformed reports a Remaining Length over four bytes.
var errMalformed = errors.New("malformed remaining length")

// readFrame reads one packet and returns its first byte, the first keep
// bytes of its body (the rest is discarded, so large packets cost no
// memory) and the packet's total size.
func readFrame(r *bufio.Reader, keep int) (first byte, body []byte, size int, err error) {
	if first, err = r.ReadByte(); err != nil {
		return 0, nil, 0, err
	}
	n, size := 0, 1
	for shift := 0; ; shift += 7 {
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, 0, noEOF(err)
		}
		size++
		n |= int(b&0x7F) << shift
		if b < 0x80 {
			break
		}
		if shift == 21 {
			return 0, nil, 0, errMalformed
		}
	}
	size += n
	body = make([]byte, min(n, keep))
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, 0, noEOF(err)
	}
	if _, err := r.Discard(n - len(body)); err != nil {
		return 0, nil, 0, noEOF(err)
	}
	return first, body, size, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
