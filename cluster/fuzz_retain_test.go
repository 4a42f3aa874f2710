package cluster

import (
	"bufio"
	"bytes"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/jmqx/jmqx/internal/packet"
)

// retainFrame encodes a frameRetain of tenant with entries.
func retainFrame(tenant string, entries ...retainEntry) []byte {
	return frame(frameRetain, func(b []byte) []byte {
		b = appendString(b, tenant)
		for i := range entries {
			b = appendRetainEntry(b, &entries[i])
		}
		return b
	})
}

// setEntry is a retained set of topic to payload.
func setEntry(topic, payload string, stamp uint64, origin string) retainEntry {
	m := &packet.Publish{Topic: topic, Payload: []byte(payload), Retain: true}
	return retainEntry{topic: topic, stamp: stamp, origin: origin, set: true, publish: m.AppendTo(nil, packet.V5)}
}

// reforwardFrame encodes a whole frameReforward.
func reforwardFrame(hops, id uint64, groups []string, tenant string, m *packet.Publish) []byte {
	body := m.AppendTo(appendString(nil, tenant), packet.V5)
	return append(reforwardHeader(nil, hops, id, groups, body), body...)
}

// retainSeeds are valid frames of this file's types, and broken ones.
func retainSeeds() [][]byte {
	clear := retainEntry{topic: "a/b", stamp: 9, origin: "q"}
	wrongTopic := setEntry("a/b", "x", 3, "p")
	wrongTopic.topic = "a/c"
	return [][]byte{
		retainFrame("t", setEntry("a/b", "one", 5, "p")),
		retainFrame("t", setEntry("a/b", "two", 5, "q"), clear, setEntry("c", "three", 1<<40, "p")),
		retainFrame("u", setEntry("x", "y", 1, "p")),
		retainFrame("t", clear),
		retainFrame("t", wrongTopic),
		retainFrame("t"),
		{frameRetain, 4, 1, 't', 1, 'a'},
		reforwardFrame(1, 1, []string{"$share/g/#"}, "t", seedPublish("a/b", "on")),
		reforwardFrame(maxHops, 2, []string{"$share/h/#", "$share/g/#"}, "t", seedPublish("a/c", "on")),
		reforwardFrame(maxHops+1, 3, []string{"$share/g/#"}, "t", seedPublish("a/c", "far")),
		reforwardFrame(1, 4, nil, "t", seedPublish("a/c", "none")),
	}
}

// FuzzRetainFrame decodes arbitrary bodies as retained and reforward
// frames: no panic, and what decodes encodes and decodes to the same.
func FuzzRetainFrame(f *testing.F) {
	for _, s := range retainSeeds() {
		r := reader{b: s[1:]}
		r.uint()
		f.Add(r.b)
		f.Add(r.b[:len(r.b)/2])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if tenant, entries, err := decodeRetain(body); err == nil {
			back := decodeOne(t, retainFrame(tenant, entries...), frameRetain)
			tenant2, entries2, err := decodeRetain(back)
			if err != nil || tenant2 != tenant || !slices.EqualFunc(entries, entries2, func(a, b retainEntry) bool {
				return a.topic == b.topic && a.stamp == b.stamp && a.origin == b.origin && a.set == b.set && bytes.Equal(a.publish, b.publish)
			}) {
				t.Fatalf("retained %q %+v: re-decoded %q %+v, %v", tenant, entries, tenant2, entries2, err)
			}
		} else if !errors.Is(err, errFrame) {
			t.Fatalf("retained frame refused with %v, not an errFrame", err)
		}
		if hops, fw, err := decodeReforward(body); err == nil {
			rest := append(appendString(nil, fw.tenant), fw.publish...)
			frameBody := decodeOne(t, append(reforwardHeader(nil, hops, fw.id, fw.groups, rest), rest...), frameReforward)
			hops2, fw2, err := decodeReforward(frameBody)
			if err != nil || hops2 != hops || fw2.id != fw.id || fw2.tenant != fw.tenant || !slices.Equal(fw2.groups, fw.groups) ||
				!bytes.Equal(fw2.publish, fw.publish) {
				t.Fatalf("reforward %d %+v: re-decoded %d %+v, %v", hops, fw, hops2, fw2, err)
			}
		} else if !errors.Is(err, errFrame) {
			t.Fatalf("reforward refused with %v, not an errFrame", err)
		}
	})
}

// FuzzInboundRetain applies arbitrary frames, seeded with retained and
// reforward frames, to an inbound link: no panic, a refused frame is an
// errFrame that changes no retained state, and after every frame the
// store's digest and the broker's retained messages agree with what won.
func FuzzInboundRetain(f *testing.F) {
	seeds := retainSeeds()
	var all []byte
	for _, s := range seeds {
		f.Add(s)
		f.Add(s[:len(s)-1])
		all = append(all, s...)
	}
	f.Add(all)
	f.Fuzz(func(t *testing.T, data []byte) {
		n := newFuzzNode(t)
		defer n.close(t)
		rs := n.c.tenant("t").retained
		state := func() (map[string]retainMeta, uint64) {
			rs.mu.Lock()
			defer rs.mu.Unlock()
			return maps.Clone(rs.meta), rs.hash
		}
		br := bufio.NewReader(bytes.NewReader(data))
		var buf []byte
		var pub packet.Publish
		for {
			typ, body, nbuf, err := readFrame(br, buf, len(data))
			buf = nbuf
			if err != nil {
				break
			}
			before, hash := state()
			if err := n.in.apply(typ, body, &pub); err != nil {
				if !errors.Is(err, errFrame) {
					t.Fatalf("frame %d refused with %v, not an errFrame", typ, err)
				}
				if after, h := state(); !maps.Equal(before, after) || h != hash {
					t.Fatalf("refused frame %d (%v) changed the retained store", typ, err)
				}
				break
			}
			meta, h := state()
			var want uint64
			for topic, m := range meta {
				msg, ok := n.b.RetainedMessage(topic)
				switch {
				case m.cleared && ok:
					t.Fatalf("%q is cleared but the broker retains %q", topic, msg.Payload)
				case !m.cleared && !ok:
					t.Fatalf("%q is set at %d by %q but the broker retains nothing", topic, m.stamp, m.origin)
				case !m.cleared:
					want ^= setHash(topic, m.stamp, m.origin)
				}
			}
			if h != want {
				t.Fatalf("digest %x, the sets hash to %x", h, want)
			}
		}
	})
}
