package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A link carries frames: a type byte, the body's length as a uvarint, and
// the body. Every integer in a body is a uvarint, every string a uvarint
// length and its bytes. The dialing node sends its routes and forwards;
// the accepting node answers with acknowledgements and resync requests.
const (
	frameChallenge  byte = 1 + iota // acceptor: nonce, its name
	frameHello                      // dialer: name, epoch, protocol, proof
	frameWelcome                    // acceptor: handshake done
	frameSnapBegin                  // tenant, version: a snapshot of the tenant's routes follows
	frameSnapRoutes                 // tenant, then (filter, members) pairs
	frameSnapEnd                    // tenant, version: the snapshot is whole
	frameRoute                      // tenant, version, added (0/1), filter, members
	frameForward                    // forward id, tenant, groups, PUBLISH (MQTT 5 encoding)
	frameForwardAck                 // acceptor: every forward up to this id is in its sessions
	frameRouteAck                   // acceptor: tenant, version applied
	frameResync                     // acceptor: tenant whose routes to send again
	frameDropTenant                 // tenant, version: no routes for the tenant any more
)

// protocolVersion is the link protocol; a peer speaking another is refused.
const protocolVersion = 1

// maxFrameHeader is the most bytes a frame header takes.
const maxFrameHeader = 1 + binary.MaxVarintLen64

// errFrame reports a malformed frame.
var errFrame = errors.New("cluster: malformed frame")

// appendHeader appends a frame header for a body of n bytes.
func appendHeader(dst []byte, typ byte, n int) []byte {
	return binary.AppendUvarint(append(dst, typ), uint64(n))
}

// appendString appends s with its length.
func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// appendUint appends v.
func appendUint(dst []byte, v uint64) []byte { return binary.AppendUvarint(dst, v) }

// frame builds one frame: body is appended by fill after a placeholder
// header, then the header is written in front.
func frame(typ byte, fill func([]byte) []byte) []byte {
	body := fill(make([]byte, 0, 64))
	out := make([]byte, 0, maxFrameHeader+len(body))
	return append(appendHeader(out, typ, len(body)), body...)
}

// reader decodes a frame body; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errFrame
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errFrame
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) string() string { return string(r.bytes()) }

// rest returns what is left of the body.
func (r *reader) rest() []byte {
	out := r.b
	r.b = nil
	return out
}

// end reports the first error, or an error when bytes are left over.
func (r *reader) end() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = errFrame
	}
	return r.err
}

// routeEntry is one filter of a node's routes: a plain filter, or a shared
// group "$share/{group}/{filter}" with its local member count.
type routeEntry struct {
	filter  string
	members uint64
}

// snapChunk bounds the body of one frameSnapRoutes.
const snapChunk = 64 << 10

// appendSnapshot appends the frames of a snapshot of a tenant's routes.
func appendSnapshot(dst []byte, tenant string, version uint64, entries []routeEntry) []byte {
	dst = append(dst, frame(frameSnapBegin, func(b []byte) []byte {
		return appendUint(appendString(b, tenant), version)
	})...)
	for len(entries) > 0 {
		body := appendString(make([]byte, 0, 256), tenant)
		for len(entries) > 0 && len(body) < snapChunk {
			body = appendUint(appendString(body, entries[0].filter), entries[0].members)
			entries = entries[1:]
		}
		dst = append(appendHeader(dst, frameSnapRoutes, len(body)), body...)
	}
	return append(dst, frame(frameSnapEnd, func(b []byte) []byte {
		return appendUint(appendString(b, tenant), version)
	})...)
}

// routeFrame encodes one route change.
func routeFrame(tenant string, version uint64, added bool, filter string, members uint64) []byte {
	return frame(frameRoute, func(b []byte) []byte {
		b = appendUint(appendString(b, tenant), version)
		add := uint64(0)
		if added {
			add = 1
		}
		return appendUint(appendString(appendUint(b, add), filter), members)
	})
}

// forwardHeader appends the part of a forward frame that differs per peer
// (its id and the shared groups it serves); body is the shared rest
// (tenant and PUBLISH) and follows.
func forwardHeader(dst []byte, id uint64, groups []string, body []byte) []byte {
	n := uvarintLen(id) + uvarintLen(uint64(len(groups)))
	for _, g := range groups {
		n += uvarintLen(uint64(len(g))) + len(g)
	}
	dst = appendUint(appendHeader(dst, frameForward, n+len(body)), id)
	dst = appendUint(dst, uint64(len(groups)))
	for _, g := range groups {
		dst = appendString(dst, g)
	}
	return dst
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// forward is a decoded frameForward; its slices alias the frame.
type forward struct {
	id      uint64
	groups  []string
	tenant  string
	publish []byte // an MQTT 5 PUBLISH packet, fixed header included
}

// maxGroups bounds the shared groups one forward names.
const maxGroups = 1 << 12

func decodeForward(body []byte) (forward, error) {
	r := reader{b: body}
	var f forward
	f.id = r.uint()
	n := r.uint()
	if n > maxGroups {
		return f, fmt.Errorf("%w: %d groups", errFrame, n)
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		f.groups = append(f.groups, r.string())
	}
	f.tenant = r.string()
	f.publish = r.rest()
	if r.err != nil {
		return f, r.err
	}
	if len(f.publish) == 0 {
		return f, fmt.Errorf("%w: forward without a message", errFrame)
	}
	return f, nil
}

// routeChange is a decoded frameRoute.
type routeChange struct {
	tenant  string
	version uint64
	added   bool
	entry   routeEntry
}

func decodeRoute(body []byte) (routeChange, error) {
	r := reader{b: body}
	var c routeChange
	c.tenant = r.string()
	c.version = r.uint()
	add := r.uint()
	c.entry.filter = r.string()
	c.entry.members = r.uint()
	if err := r.end(); err != nil {
		return c, err
	}
	if add > 1 {
		return c, fmt.Errorf("%w: route op %d", errFrame, add)
	}
	c.added = add == 1
	return c, nil
}

// decodeTenantVersion decodes a body of a tenant and a version.
func decodeTenantVersion(body []byte) (string, uint64, error) {
	r := reader{b: body}
	t := r.string()
	v := r.uint()
	return t, v, r.end()
}

// decodeSnapRoutes decodes a frameSnapRoutes, calling add per entry.
func decodeSnapRoutes(body []byte, add func(tenant string, e routeEntry)) error {
	r := reader{b: body}
	t := r.string()
	for r.err == nil && len(r.b) > 0 {
		e := routeEntry{filter: r.string(), members: r.uint()}
		if r.err == nil {
			add(t, e)
		}
	}
	return r.end()
}
