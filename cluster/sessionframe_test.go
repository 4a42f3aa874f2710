package cluster

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/jmqx/jmqx/broker"
)

// sessionSeeds are valid session frames of every type.
func sessionSeeds() [][]byte {
	st := &broker.SessionState{ClientID: "c", Expiry: 60, Subscriptions: []broker.SessionSub{{Filter: "a/#", QoS: 1}},
		Queue: []broker.QueuedState{{QoS: 1, Message: &broker.WirePublish{Topic: "a/b", Payload: []byte("x"), QoS: 1}}}}
	will := &broker.WillState{Message: broker.WirePublish{Topic: "w", Payload: []byte("gone")}, Delay: 5, Expiry: 60, Connected: true}
	msgs := []sessionMsg{
		{typ: frameClaim, id: 3, tenant: "t", client: "c", mode: broker.TakeResume},
		{typ: frameClaim, id: 4, tenant: "t", client: "c", mode: broker.TakeAdopt},
		{typ: frameClaimAnswer, id: 3, tenant: "t", client: "c"},
		{typ: frameClaimAnswer, id: 3, tenant: "t", client: "c", has: true, state: st},
		{typ: frameTake, id: 3, tenant: "t", client: "c"},
		{typ: frameTake, id: 3, tenant: "t", client: "c", skip: []string{"n3", "n4"}},
		{typ: frameTakeAnswer, id: 3, tenant: "t", client: "c", has: true, state: st},
		{typ: frameAdopt, id: 1, tenant: "t", client: "c"},
		{typ: frameAdopted, id: 1, has: true},
		{typ: frameWill, tenant: "t", client: "c", will: will},
		{typ: frameWillClear, tenant: "t", client: "c"},
		{typ: frameWillReset},
		{typ: frameFence, id: 7},
		{typ: frameFenceAck, id: 7},
	}
	out := make([][]byte, len(msgs))
	for i := range msgs {
		out[i] = msgs[i].encode()
	}
	return out
}

func TestSessionFramesRoundTrip(t *testing.T) {
	for _, fr := range sessionSeeds() {
		typ, body, _, err := readFrame(bufio.NewReader(bytes.NewReader(fr)), nil, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		m, err := decodeSessionMsg(typ, body)
		if err != nil {
			t.Fatalf("frame %d: %v", typ, err)
		}
		if again := m.encode(); !bytes.Equal(again, fr) {
			t.Fatalf("frame %d re-encodes differently", typ)
		}
	}
	if _, err := decodeSessionMsg(frameClaim, []byte{1, 1, 't', 1, 'c', 9}); err == nil {
		t.Fatal("a claim mode out of range decoded")
	}
}

// FuzzSessionFrame: no session frame panics the decoder, and what decodes
// re-encodes to the same frame.
func FuzzSessionFrame(f *testing.F) {
	for _, fr := range sessionSeeds() {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, body, _, err := readFrame(bufio.NewReader(bytes.NewReader(data)), nil, 1<<20)
		if err != nil || !isSessionFrame(typ) {
			return
		}
		m, err := decodeSessionMsg(typ, body)
		if err != nil {
			return
		}
		typ2, body2, _, err := readFrame(bufio.NewReader(bytes.NewReader(m.encode())), nil, 1<<20)
		if err != nil || typ2 != typ {
			t.Fatalf("re-encoded frame does not read: %v", err)
		}
		m2, err := decodeSessionMsg(typ, body2)
		if err != nil {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
		if !bytes.Equal(m.encode(), m2.encode()) {
			t.Fatal("encoding is not stable")
		}
	})
}
