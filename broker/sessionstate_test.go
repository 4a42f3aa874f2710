package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/jmqx/jmqx/internal/packet"
)

// sampleState is a session with every kind of content.
func sampleState() *SessionState {
	withProps := WirePublish{Topic: "a/p", Payload: []byte("props"), QoS: 1}
	withProps.Props.Set(packet.PropContentType)
	withProps.Props.ContentType = "text/plain"
	withProps.Props.Set(packet.PropMessageExpiry)
	withProps.Props.MessageExpiry = 60
	return &SessionState{
		ClientID: "dev-1", Expiry: 3600, NextPID: 7,
		Subscriptions: []SessionSub{{Filter: "a/#", QoS: 1}, {Filter: "$share/g/b/+", QoS: 2, ID: 9},
			{Filter: "c", NoLocal: true, RetainAsPublished: true, CheckRead: true}},
		Inflight: []InflightState{
			{PacketID: 5, QoS: 1, Message: &WirePublish{Topic: "a/x", Payload: []byte("one"), QoS: 1}, Group: "$share/g/a/#"},
			{PacketID: 6, QoS: 2, Released: true, SubIDs: []uint32{9}},
			{PacketID: 7, QoS: 2, Retain: true, Message: &withProps},
		},
		Queue: []QueuedState{
			{QoS: 1, Message: &WirePublish{Topic: "a/y", Payload: []byte("two"), QoS: 2}, Group: "$share/g/a/#"},
			{QoS: 0, Retain: true, SubIDs: []uint32{1, 2}, Message: &WirePublish{Topic: "c", Payload: nil}},
		},
		InQoS2: []uint16{3, 4},
		Will:   &WillState{Message: WirePublish{Topic: "will/dev-1", Payload: []byte("gone"), QoS: 1, Retain: true}, Delay: 30, Expiry: 3600},
	}
}

func TestSessionStateRoundTrip(t *testing.T) {
	for _, st := range []*SessionState{sampleState(), {ClientID: "empty"}} {
		enc, err := st.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got SessionState
		if err := got.UnmarshalBinary(enc); err != nil {
			t.Fatalf("%s: %v", st.ClientID, err)
		}
		again, _ := got.MarshalBinary()
		if !bytes.Equal(enc, again) {
			t.Fatalf("%s: re-encoding differs", st.ClientID)
		}
		if got.ClientID != st.ClientID || len(got.Inflight) != len(st.Inflight) || len(got.Queue) != len(st.Queue) ||
			!reflect.DeepEqual(got.Subscriptions, st.Subscriptions) && len(st.Subscriptions) > 0 {
			t.Fatalf("%s: decoded %+v", st.ClientID, got)
		}
	}
	st := sampleState()
	enc, _ := st.MarshalBinary()
	var got SessionState
	_ = got.UnmarshalBinary(enc)
	if string(got.Inflight[2].Message.Payload) != "props" || got.Inflight[2].Message.Props.ContentType != "text/plain" ||
		!got.Inflight[1].Released || got.Will.Delay != 30 || got.Will.Message.Topic != "will/dev-1" || got.InQoS2[1] != 4 ||
		got.Inflight[0].Group != "$share/g/a/#" || got.Inflight[1].Group != "" || got.Queue[0].Group != "$share/g/a/#" || got.Queue[1].Group != "" {
		t.Fatalf("decoded %+v", got)
	}
}

func TestSessionStateRefusesBadInput(t *testing.T) {
	enc, _ := sampleState().MarshalBinary()
	bad := [][]byte{nil, {0}, {3}, enc[:len(enc)-1], append(append([]byte{}, enc...), 0), {1, 0xff}, {2, 0xff}}
	for i, b := range bad {
		var st SessionState
		if err := st.UnmarshalBinary(b); !errors.Is(err, ErrSessionState) {
			t.Errorf("input %d: err %v", i, err)
		}
	}
}

// sessionStateV1 is a session in version 1 of the binary form (before
// messages named their shared groups): one subscription, one inflight and
// one queued message.
func sessionStateV1() []byte {
	b := appendStr([]byte{1}, "old")
	b = binary.AppendUvarint(b, 60) // expiry
	b = binary.AppendUvarint(b, 4)  // next packet id
	b = binary.AppendUvarint(b, 1)
	b = append(appendStr(b, "$share/g/t"), 1, 0)
	b = binary.AppendUvarint(b, 0) // subscription id
	b = binary.AppendUvarint(b, 1)
	b = binary.AppendUvarint(b, 4) // packet id
	b = appendIDs(append(b, 1, flags(false, false, true)), nil)
	b = appendWirePublish(b, &WirePublish{Topic: "t", Payload: []byte("in flight"), QoS: 1})
	b = binary.AppendUvarint(b, 1)
	b = appendIDs(append(b, 1, 0), nil)
	b = appendWirePublish(b, &WirePublish{Topic: "t", Payload: []byte("queued"), QoS: 1})
	b = binary.AppendUvarint(b, 0) // inbound QoS 2
	return append(b, 0)            // no will
}

// Version 1 (before shared groups) still decodes, with no groups; it is
// re-encoded as the current version.
func TestSessionStateDecodesVersion1(t *testing.T) {
	var st SessionState
	if err := st.UnmarshalBinary(sessionStateV1()); err != nil {
		t.Fatal(err)
	}
	if st.ClientID != "old" || st.Expiry != 60 || st.NextPID != 4 || len(st.Subscriptions) != 1 ||
		len(st.Inflight) != 1 || string(st.Inflight[0].Message.Payload) != "in flight" || st.Inflight[0].Group != "" ||
		len(st.Queue) != 1 || string(st.Queue[0].Message.Payload) != "queued" || st.Queue[0].Group != "" {
		t.Fatalf("decoded %+v", st)
	}
	enc, _ := st.MarshalBinary()
	if enc[0] != sessionStateVersion {
		t.Fatalf("re-encoded as version %d", enc[0])
	}
}

// A message's group must be a shared subscription filter.
func TestSessionStateRefusesBadGroup(t *testing.T) {
	st := sampleState()
	st.Queue[0].Group = "a/#"
	enc, _ := st.MarshalBinary()
	var got SessionState
	if err := got.UnmarshalBinary(enc); !errors.Is(err, ErrSessionState) {
		t.Fatalf("err %v", err)
	}
}

// FuzzSessionState: no input panics the decoder, and what decodes
// re-encodes to what decodes the same.
func FuzzSessionState(f *testing.F) {
	enc, _ := sampleState().MarshalBinary()
	empty, _ := (&SessionState{ClientID: "x"}).MarshalBinary()
	f.Add(enc)
	f.Add(empty)
	f.Add([]byte{1})
	f.Add(sessionStateV1())
	f.Fuzz(func(t *testing.T, data []byte) {
		var st SessionState
		if err := st.UnmarshalBinary(data); err != nil {
			return
		}
		again, err := st.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var st2 SessionState
		if err := st2.UnmarshalBinary(again); err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
		third, _ := st2.MarshalBinary()
		if !bytes.Equal(again, third) {
			t.Fatal("encoding is not stable")
		}
	})
}
