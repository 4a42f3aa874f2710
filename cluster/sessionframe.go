package cluster

import (
	"fmt"

	"github.com/jmqx/jmqx/broker"
)

// Frames of sessions across nodes (sessions.go, wills.go). Each goes on
// the sender's own link to the peer (a request on the claimant's, the
// answer on the holder's); the types are 32 to 47.
const (
	frameClaim       byte = 32 // claim id, tenant, client id, mode
	frameClaimAnswer byte = 33 // claim id, tenant, client id, has, [subscriptions and expiry: SessionState]
	frameTake        byte = 34 // claim id, tenant, client id, peers not to fence (count, names)
	frameTakeAnswer  byte = 35 // claim id, tenant, client id, has, [SessionState]
	frameAdopt       byte = 36 // request id, tenant, client id: claim it (HandOff)
	frameAdopted     byte = 37 // request id, ok (0/1)
	frameWill        byte = 38 // tenant, client id, WillState
	frameWillClear   byte = 39 // tenant, client id
	frameWillReset   byte = 40 // forget every will the sender registered
	frameFence       byte = 41 // fence id: answer once the forwards queued to the sender before it are written
	frameFenceAck    byte = 42 // fence id
)

// isSessionFrame reports whether typ is one of the frames above.
func isSessionFrame(typ byte) bool { return typ >= 32 && typ <= 47 }

// claimID orders claims of one client id cluster-wide: by Lamport clock,
// then node name.
type claimID struct {
	clock uint64
	node  string
}

// less reports whether a was made before b.
func (a claimID) less(b claimID) bool {
	if a.clock != b.clock {
		return a.clock < b.clock
	}
	return a.node < b.node
}

// claimMode is what a claim asks of the holder (broker.TakeMode).
type claimMode = broker.TakeMode

// sessionMsg is a decoded session frame; which fields are set depends on
// its type.
type sessionMsg struct {
	typ    byte
	id     uint64 // claim clock, request id or fence id
	tenant string
	client string
	mode   claimMode
	has    bool // answers: a session (or adoption) follows / succeeded
	state  *broker.SessionState
	will   *broker.WillState
	skip   []string // take: peers that did not answer the claim, not fenced
}

// encode returns m as a frame.
func (m *sessionMsg) encode() []byte {
	return frame(m.typ, func(b []byte) []byte {
		switch m.typ {
		case frameClaim, frameClaimAnswer, frameTake, frameTakeAnswer, frameAdopt:
			b = appendString(appendString(appendUint(b, m.id), m.tenant), m.client)
		case frameAdopted:
			return appendUint(appendUint(b, m.id), boolUint(m.has))
		case frameFence, frameFenceAck:
			return appendUint(b, m.id)
		case frameWill, frameWillClear:
			b = appendString(appendString(b, m.tenant), m.client)
		}
		switch m.typ {
		case frameClaim:
			b = appendUint(b, uint64(m.mode))
		case frameTake:
			b = appendUint(b, uint64(len(m.skip)))
			for _, p := range m.skip {
				b = appendString(b, p)
			}
		case frameClaimAnswer, frameTakeAnswer:
			b = appendUint(b, boolUint(m.has))
			if m.has {
				st, _ := m.state.MarshalBinary()
				b = append(b, st...)
			}
		case frameWill:
			w, _ := m.will.MarshalBinary()
			b = append(b, w...)
		}
		return b
	})
}

func boolUint(v bool) uint64 {
	if v {
		return 1
	}
	return 0
}

// decodeSessionMsg decodes a session frame of type typ.
func decodeSessionMsg(typ byte, body []byte) (*sessionMsg, error) {
	r := reader{b: body}
	m := &sessionMsg{typ: typ}
	switch typ {
	case frameClaim, frameClaimAnswer, frameTake, frameTakeAnswer, frameAdopt:
		m.id = r.uint()
		m.tenant = r.string()
		m.client = r.string()
	case frameAdopted:
		m.id = r.uint()
		m.has = r.uint() == 1
		return m, r.end()
	case frameWill, frameWillClear:
		m.tenant = r.string()
		m.client = r.string()
	case frameFence, frameFenceAck:
		m.id = r.uint()
		return m, r.end()
	case frameWillReset:
		return m, r.end()
	default:
		return nil, fmt.Errorf("%w: unknown session frame %d", errFrame, typ)
	}
	switch typ {
	case frameClaim:
		mode := r.uint()
		if r.err == nil && mode > uint64(broker.TakeAdopt) {
			return nil, fmt.Errorf("%w: claim mode %d", errFrame, mode)
		}
		m.mode = claimMode(mode)
	case frameTake:
		n := r.uint()
		if r.err == nil && n > uint64(len(r.b)) {
			return nil, fmt.Errorf("%w: take: %d peers in %d bytes", errFrame, n, len(r.b))
		}
		for range n {
			m.skip = append(m.skip, r.string())
		}
	case frameClaimAnswer, frameTakeAnswer:
		has := r.uint()
		if r.err != nil || has > 1 {
			return nil, fmt.Errorf("%w: session answer", errFrame)
		}
		if m.has = has == 1; m.has {
			m.state = new(broker.SessionState)
			if err := m.state.UnmarshalBinary(r.rest()); err != nil {
				return nil, fmt.Errorf("%w: %v", errFrame, err)
			}
			if m.state.ClientID != m.client {
				return nil, fmt.Errorf("%w: session of %q answered for %q", errFrame, m.state.ClientID, m.client)
			}
		}
	case frameWill:
		if r.err == nil {
			m.will = new(broker.WillState)
			if err := m.will.UnmarshalBinary(r.rest()); err != nil {
				return nil, fmt.Errorf("%w: %v", errFrame, err)
			}
		}
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return m, nil
}
