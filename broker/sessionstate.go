package broker

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jmqx/jmqx/internal/packet"
)

// SessionState is an MQTT session as a value: what moves between the nodes
// of a cluster when a client id connects elsewhere (see SessionClaimer), in
// a versioned binary form (MarshalBinary).
type SessionState struct {
	ClientID string
	// Expiry is the Session Expiry Interval left, in seconds; 0xFFFFFFFF
	// never.
	Expiry        uint32
	Subscriptions []SessionSub
	// Inflight are the unacknowledged outbound QoS 1/2 messages, in the
	// order they were first sent.
	Inflight []InflightState
	// Queue are the deliveries waiting for the inflight window, in order.
	Queue []QueuedState
	// InQoS2 are the inbound QoS 2 packet ids awaiting PUBREL.
	InQoS2  []uint16
	NextPID uint16
	// Will is the pending will of an offline session (nil: none).
	Will *WillState
}

// SessionSub is one subscription of a session with its options.
type SessionSub struct {
	Filter            string
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	ID                uint32 // Subscription Identifier; 0: none
	CheckRead         bool   // ReadAuthorizers see each delivery
}

// InflightState is an unacknowledged outbound message.
type InflightState struct {
	PacketID uint16
	QoS      byte
	Retain   bool
	SubIDs   []uint32
	// Released: PUBREC arrived and PUBREL was sent (QoS 2); no Message.
	Released bool
	Message  *WirePublish
	// Group is the shared subscription ("$share/{group}/{filter}") the
	// message was delivered through, "" for none: if the session leaves
	// the group, the message goes to another member (version 2).
	Group string
}

// QueuedState is a delivery waiting in a session's queue.
type QueuedState struct {
	QoS     byte
	Retain  bool
	SubIDs  []uint32
	Message *WirePublish
	Group   string // as InflightState.Group
}

// WillState is a session's will: published Delay seconds after its
// connection ends (or Expiry, when sooner), unless the client comes back.
type WillState struct {
	Message WirePublish
	Delay   uint32
	Expiry  uint32
	// Connected: the session's connection is up (Delay counts from its
	// end); else Delay counts from now.
	Connected bool
}

// sessionStateVersion is the first byte of the binary form. Version 2
// adds each inflight and queued message's shared group after its
// subscription ids; version 1 is still decoded (no groups).
const sessionStateVersion = 2

// willStateVersion is the first byte of WillState's binary form.
const willStateVersion = 1

// Bounds of a decoded SessionState, so that a hostile input cannot make
// the decoder allocate without bound.
const (
	maxStateItems  = 1 << 20
	maxStateSubIDs = 1 << 10
	maxStateBytes  = 1 << 30
)

// ErrSessionState reports a malformed SessionState encoding.
var ErrSessionState = errors.New("broker: malformed session state")

// MarshalBinary encodes s: a version byte, then uvarints, length-prefixed
// strings and MQTT 5 PUBLISH packets.
func (s *SessionState) MarshalBinary() ([]byte, error) {
	b := []byte{sessionStateVersion}
	b = appendStr(b, s.ClientID)
	b = binary.AppendUvarint(b, uint64(s.Expiry))
	b = binary.AppendUvarint(b, uint64(s.NextPID))
	b = binary.AppendUvarint(b, uint64(len(s.Subscriptions)))
	for _, sub := range s.Subscriptions {
		b = appendStr(b, sub.Filter)
		b = append(b, sub.QoS, flags(sub.NoLocal, sub.RetainAsPublished, sub.CheckRead))
		b = binary.AppendUvarint(b, uint64(sub.ID))
	}
	b = binary.AppendUvarint(b, uint64(len(s.Inflight)))
	for _, e := range s.Inflight {
		b = binary.AppendUvarint(b, uint64(e.PacketID))
		b = append(b, e.QoS, flags(e.Retain, e.Released, e.Message != nil))
		b = appendStr(appendIDs(b, e.SubIDs), e.Group)
		if e.Message != nil {
			b = appendWirePublish(b, e.Message)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(s.Queue)))
	for _, q := range s.Queue {
		b = append(b, q.QoS, flags(q.Retain))
		b = appendStr(appendIDs(b, q.SubIDs), q.Group)
		b = appendWirePublish(b, q.Message)
	}
	b = binary.AppendUvarint(b, uint64(len(s.InQoS2)))
	for _, pid := range s.InQoS2 {
		b = binary.AppendUvarint(b, uint64(pid))
	}
	if s.Will == nil {
		return append(b, 0), nil
	}
	return s.Will.appendTo(append(b, 1)), nil
}

// appendTo appends w's encoding.
func (w *WillState) appendTo(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(w.Delay))
	b = binary.AppendUvarint(b, uint64(w.Expiry))
	b = append(b, flags(w.Connected))
	return appendWirePublish(b, &w.Message)
}

// MarshalBinary encodes w alone (as a cluster registers it with peers).
func (w *WillState) MarshalBinary() ([]byte, error) {
	return w.appendTo([]byte{willStateVersion}), nil
}

// UnmarshalBinary decodes what WillState.MarshalBinary encoded.
func (w *WillState) UnmarshalBinary(data []byte) error {
	if len(data) == 0 || data[0] != willStateVersion {
		return fmt.Errorf("%w: not version %d", ErrSessionState, willStateVersion)
	}
	d := stateDecoder{b: data[1:]}
	d.will(w)
	return d.end()
}

// UnmarshalBinary decodes what MarshalBinary encoded; bad input gets an
// error wrapping ErrSessionState.
func (s *SessionState) UnmarshalBinary(data []byte) error {
	if len(data) == 0 || data[0] == 0 || data[0] > sessionStateVersion {
		return fmt.Errorf("%w: not version 1 to %d", ErrSessionState, sessionStateVersion)
	}
	d := stateDecoder{b: data[1:], groups: data[0] >= 2}
	*s = SessionState{}
	s.ClientID = d.str()
	s.Expiry = d.u32()
	s.NextPID = d.u16()
	for n := d.count(); n > 0 && d.err == nil; n-- {
		var sub SessionSub
		sub.Filter = d.str()
		sub.QoS = d.qos()
		f := d.byte()
		sub.NoLocal, sub.RetainAsPublished, sub.CheckRead = f&1 != 0, f&2 != 0, f&4 != 0
		sub.ID = d.u32()
		s.Subscriptions = append(s.Subscriptions, sub)
	}
	for n := d.count(); n > 0 && d.err == nil; n-- {
		var e InflightState
		e.PacketID = d.u16()
		e.QoS = d.qos()
		f := d.byte()
		e.Retain, e.Released = f&1 != 0, f&2 != 0
		e.SubIDs = d.ids()
		e.Group = d.group()
		if f&4 != 0 {
			e.Message = d.publish()
		}
		if d.err == nil && (e.PacketID == 0 || e.QoS == 0 || (e.Message == nil) != e.Released) {
			d.fail("inflight entry")
		}
		s.Inflight = append(s.Inflight, e)
	}
	for n := d.count(); n > 0 && d.err == nil; n-- {
		var q QueuedState
		q.QoS = d.qos()
		q.Retain = d.byte()&1 != 0
		q.SubIDs = d.ids()
		q.Group = d.group()
		q.Message = d.publish()
		s.Queue = append(s.Queue, q)
	}
	for n := d.count(); n > 0 && d.err == nil; n-- {
		s.InQoS2 = append(s.InQoS2, d.u16())
	}
	if d.byte() == 1 {
		s.Will = new(WillState)
		d.will(s.Will)
	}
	return d.end()
}

func flags(bits ...bool) byte {
	var f byte
	for i, b := range bits {
		if b {
			f |= 1 << i
		}
	}
	return f
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendIDs(b []byte, ids []uint32) []byte {
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = binary.AppendUvarint(b, uint64(id))
	}
	return b
}

// appendWirePublish appends m as a length-prefixed MQTT 5 PUBLISH packet.
func appendWirePublish(b []byte, m *WirePublish) []byte {
	p := *m
	if p.QoS > 0 && p.PacketID == 0 {
		p.PacketID = 1 // any: QoS > 0 needs one on the wire
	}
	enc := p.AppendTo(nil, packet.V5)
	return append(binary.AppendUvarint(b, uint64(len(enc))), enc...)
}

// stateDecoder reads a SessionState; the first error sticks.
type stateDecoder struct {
	b      []byte
	err    error
	groups bool // the messages name their shared groups (version 2)
}

func (d *stateDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrSessionState, what)
	}
}

func (d *stateDecoder) uint(max uint64, what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > max {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *stateDecoder) u32() uint32 { return uint32(d.uint(0xFFFFFFFF, "32-bit value")) }
func (d *stateDecoder) u16() uint16 { return uint16(d.uint(0xFFFF, "packet id")) }
func (d *stateDecoder) count() int  { return int(d.uint(maxStateItems, "count")) }

func (d *stateDecoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *stateDecoder) qos() byte {
	q := d.byte()
	if q > 2 {
		d.fail("QoS")
	}
	return q
}

func (d *stateDecoder) bytes() []byte {
	n := d.uint(maxStateBytes, "length")
	if d.err == nil && n > uint64(len(d.b)) {
		d.fail("truncated")
	}
	if d.err != nil {
		return nil
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out
}

func (d *stateDecoder) str() string { return string(d.bytes()) }

// group decodes a message's shared group: "" or "$share/{group}/{filter}".
func (d *stateDecoder) group() string {
	if !d.groups {
		return ""
	}
	g := d.str()
	if _, _, ok := packet.ParseShared(g); g != "" && !ok {
		d.fail("shared group")
	}
	return g
}

func (d *stateDecoder) ids() []uint32 {
	n := d.uint(maxStateSubIDs, "subscription ids")
	var ids []uint32
	for ; n > 0 && d.err == nil; n-- {
		ids = append(ids, d.u32())
	}
	return ids
}

// publish decodes a length-prefixed PUBLISH into a message that owns its
// data.
func (d *stateDecoder) publish() *WirePublish {
	raw := d.bytes()
	if d.err != nil {
		return nil
	}
	h, hl, err := packet.ParseFixedHeader(raw)
	if err != nil || h.Type != packet.PUBLISH || hl+h.Remaining != len(raw) {
		d.fail("not one PUBLISH packet")
		return nil
	}
	own := append([]byte(nil), raw[hl:]...)
	p := new(WirePublish)
	if err := p.Decode(h.Flags, own, packet.V5, false); err != nil {
		d.err = fmt.Errorf("%w: message: %v", ErrSessionState, err)
		return nil
	}
	p.PacketID = 0
	p.Dup = false
	return p
}

func (d *stateDecoder) will(w *WillState) {
	w.Delay = d.u32()
	w.Expiry = d.u32()
	w.Connected = d.byte()&1 != 0
	if p := d.publish(); p != nil {
		w.Message = *p
	}
}

func (d *stateDecoder) end() error {
	if d.err == nil && len(d.b) > 0 {
		d.fail("trailing bytes")
	}
	return d.err
}
