package cluster

import (
	"fmt"

	"github.com/jmqx/jmqx/internal/packet"
)

// Frame types of the retained store's replication and of shared groups
// (this range: 48-63). The dialing node sends them on its link.
const (
	// frameRetain: tenant, then retained entries (topic, stamp, origin,
	// kind, and for a set the PUBLISH in the MQTT 5 encoding), applied
	// last-writer-wins. A change is one entry; a repair streams the whole
	// store in frames of about retainChunk bytes.
	frameRetain byte = 48
	// frameReforward: a forward (as frameForward) sent on by a node that
	// could not serve the shared groups it names; hops counts the nodes it
	// went through.
	frameReforward byte = 49
)

// retainChunk bounds (past one entry) the body of one frameRetain of a
// repair.
const retainChunk = 64 << 10

// Kinds of a retained entry.
const (
	retainClear = 0
	retainSet   = 1
)

// retainEntry is one retained change: topic set (with publish) or cleared
// at stamp by origin. Decoded entries alias the frame.
type retainEntry struct {
	topic   string
	stamp   uint64
	origin  string
	set     bool
	publish []byte // an MQTT 5 PUBLISH packet, fixed header included
}

// appendRetainEntry appends one entry to a frameRetain body.
func appendRetainEntry(b []byte, e *retainEntry) []byte {
	b = appendUint(appendString(appendUint(appendString(b, e.topic), e.stamp), e.origin), 0)
	if !e.set {
		return b
	}
	b[len(b)-1] = retainSet
	return appendString(b, string(e.publish))
}

// decodeRetain decodes a frameRetain: its tenant and entries.
func decodeRetain(body []byte) (string, []retainEntry, error) {
	r := reader{b: body}
	tenant := r.string()
	if r.err == nil && len(r.b) == 0 {
		return "", nil, fmt.Errorf("%w: retained frame without entries", errFrame)
	}
	var out []retainEntry
	for r.err == nil && len(r.b) > 0 {
		e := retainEntry{topic: r.string(), stamp: r.uint(), origin: r.string()}
		kind := r.uint()
		switch {
		case r.err != nil:
		case kind == retainSet:
			e.set, e.publish = true, r.bytes()
			if r.err == nil && len(e.publish) == 0 {
				return "", nil, fmt.Errorf("%w: retained set without a message", errFrame)
			}
		case kind != retainClear:
			return "", nil, fmt.Errorf("%w: retained entry kind %d", errFrame, kind)
		}
		if r.err != nil {
			break
		}
		if e.topic == "" || e.origin == "" {
			return "", nil, fmt.Errorf("%w: retained entry without a topic or an origin", errFrame)
		}
		out = append(out, e)
	}
	if err := r.end(); err != nil {
		return "", nil, err
	}
	return tenant, out, nil
}

// decodeRetainPublish decodes a set's message into pub; its topic must be
// the entry's.
func decodeRetainPublish(e *retainEntry, pub *packet.Publish) error {
	h, hl, err := packet.ParseFixedHeader(e.publish)
	if err != nil || h.Type != packet.PUBLISH || hl+h.Remaining != len(e.publish) {
		return fmt.Errorf("%w: retained %q: not one PUBLISH packet", errFrame, e.topic)
	}
	if err := pub.Decode(h.Flags, e.publish[hl:], packet.V5, false); err != nil {
		return fmt.Errorf("%w: retained %q: %v", errFrame, e.topic, err)
	}
	if pub.Topic != e.topic || len(pub.Payload) == 0 {
		return fmt.Errorf("%w: retained %q: the message is of %q or empty", errFrame, e.topic, pub.Topic)
	}
	return nil
}

// maxHops bounds how many nodes a forward for a shared group goes through
// looking for a member.
const maxHops = 3

// reforwardHeader appends the header of a frameReforward: hops, then as
// forwardHeader (id and groups); body (tenant and PUBLISH) follows.
func reforwardHeader(dst []byte, hops uint64, id uint64, groups []string, body []byte) []byte {
	n := uvarintLen(hops) + uvarintLen(id) + uvarintLen(uint64(len(groups)))
	for _, g := range groups {
		n += uvarintLen(uint64(len(g))) + len(g)
	}
	dst = appendUint(appendUint(appendHeader(dst, frameReforward, n+len(body)), hops), id)
	dst = appendUint(dst, uint64(len(groups)))
	for _, g := range groups {
		dst = appendString(dst, g)
	}
	return dst
}

// decodeReforward decodes a frameReforward.
func decodeReforward(body []byte) (uint64, forward, error) {
	r := reader{b: body}
	hops := r.uint()
	if r.err != nil {
		return 0, forward{}, r.err
	}
	if hops == 0 || hops > maxHops {
		return 0, forward{}, fmt.Errorf("%w: reforward after %d hops", errFrame, hops)
	}
	f, err := decodeForward(r.b)
	if err == nil && len(f.groups) == 0 {
		err = fmt.Errorf("%w: reforward without a shared group", errFrame)
	}
	return hops, f, err
}
