package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
	"github.com/jmqx/jmqx/internal/testwait"
)

// Everything a link reads comes from the network: these targets require
// that no input panics, that what decodes re-encodes to the same values,
// and that an inbound link refuses a bad frame without touching the
// routes it holds.

// fuzzNonce is the challenge nonce of the seeds.
var fuzzNonce = bytes.Repeat([]byte{0xa5}, 32)

// challengeFrame encodes a challenge as acceptHandshake does.
func challengeFrame(nonce []byte, name string) []byte {
	return frame(frameChallenge, func(b []byte) []byte { return appendString(appendString(b, string(nonce)), name) })
}

// tenantVersionFrame encodes a body of a tenant and a version, as the
// snapshot bounds, a tenant drop and a route acknowledgement are.
func tenantVersionFrame(typ byte, tenant string, v uint64) []byte {
	return frame(typ, func(b []byte) []byte { return appendUint(appendString(b, tenant), v) })
}

// forwardFrame encodes a whole forward as link.write sends it.
func forwardFrame(id uint64, groups []string, tenant string, m *packet.Publish) []byte {
	body := m.AppendTo(appendString(nil, tenant), packet.V5)
	return append(forwardHeader(nil, id, groups, body), body...)
}

// seedPublish is a valid forwarded message.
func seedPublish(topic, payload string) *packet.Publish {
	return &packet.Publish{QoS: 1, PacketID: 1, Topic: topic, Payload: []byte(payload)}
}

// seedFrames are valid frames of every type, built by the package's
// encoders.
func seedFrames() [][]byte {
	key := derive([]byte("a test secret of the cluster"), "jmqx link")
	withProps := seedPublish("a/b", "props")
	withProps.Props.Set(packet.PropContentType)
	withProps.Props.ContentType = "text/plain"
	return [][]byte{
		challengeFrame(fuzzNonce, "n1"),
		hello{name: "p", epoch: 7, proto: protocolVersion, tenants: []string{"t", "u"},
			proof: proof(key, fuzzNonce, "p", 7)}.frame(),
		hello{name: "p", epoch: 1, proto: protocolVersion}.frame(),
		frame(frameWelcome, func(b []byte) []byte { return b }),
		appendSnapshot(nil, "t", 3, []routeEntry{{"a/#", 1}, {"$share/g/b/+", 2}, {"c", 1}}),
		appendSnapshot(nil, "t", 0, nil),
		routeFrame("t", 4, true, "a/+/c", 1),
		routeFrame("t", 5, false, "a/+/c", 0),
		routeFrame("t", 6, true, "$share/g/#", 3),
		forwardFrame(1, nil, "t", seedPublish("a/b", "one")),
		forwardFrame(2, []string{"$share/g/#"}, "t", seedPublish("a/c", "two")),
		forwardFrame(3, nil, "t", withProps),
		forwardFrame(4, nil, "other", seedPublish("x", "")),
		frame(frameForwardAck, func(b []byte) []byte { return appendUint(b, 9) }),
		tenantVersionFrame(frameRouteAck, "t", 4),
		frame(frameResync, func(b []byte) []byte { return appendString(b, "t") }),
		tenantVersionFrame(frameDropTenant, "t", 8),
	}
}

// dialerStream is what a dialer sends on a link: a snapshot, changes,
// forwards (one twice, as after a reconnection) and a tenant's drop.
func dialerStream() []byte {
	var b []byte
	b = appendSnapshot(b, "t", 3, []routeEntry{{"a/#", 1}, {"$share/g/b/+", 2}, {"c", 1}})
	b = append(b, routeFrame("t", 4, true, "d/+", 1)...)
	b = append(b, routeFrame("t", 5, false, "c", 0)...)
	b = append(b, forwardFrame(1, nil, "t", seedPublish("a/b", "one"))...)
	b = append(b, forwardFrame(2, []string{"$share/g/#"}, "t", seedPublish("a/c", "two"))...)
	b = append(b, forwardFrame(2, []string{"$share/g/#"}, "t", seedPublish("a/c", "two"))...)
	b = append(b, forwardFrame(3, nil, "u", seedPublish("a/c", "three"))...)
	b = appendSnapshot(b, "u", 1, []routeEntry{{"#", 1}})
	b = append(b, tenantVersionFrame(frameDropTenant, "u", 2)...)
	return append(b, forwardFrame(4, nil, "t", seedPublish("d/e", "four"))...)
}

// garbageSeeds are inputs no link should accept.
func garbageSeeds() [][]byte {
	huge := appendHeader(nil, frameHello, 1<<40)
	return [][]byte{
		nil,
		{0},
		bytes.Repeat([]byte{0xff}, 16),    // a length past 64 bits
		huge,                              // a length past any limit
		appendHeader(nil, frameRoute, 64), // a body that never comes
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		{frameForward, 3, 0xff, 0xff, 0xff},
		{frameRoute, 4, 0, 1, 2, 0},
		{frameSnapRoutes, 2, 1, 't'},
		{frameSnapEnd, 2, 1, 't'},
		{99, 0},
	}
}

// addSeeds adds every seed frame, their concatenation, truncations and
// garbage; extra completes each entry with the target's other arguments.
func addSeeds(f *testing.F, extra ...any) {
	frames := seedFrames()
	add := func(b []byte) { f.Add(append([]any{b}, extra...)...) }
	var all []byte
	for _, fr := range frames {
		add(fr)
		add(fr[:len(fr)-1])
		add(fr[:len(fr)/2])
		all = append(all, fr...)
	}
	add(all)
	stream := dialerStream()
	add(stream)
	add(stream[:len(stream)*2/3])
	for _, g := range garbageSeeds() {
		add(g)
		add(append(slices.Clone(frames[9]), g...))
	}
}

// chunkReader returns at most n bytes per Read, as a socket may.
type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[k:]
	return k, nil
}

// rawFrame is one frame as readFrame returned it.
type rawFrame struct {
	typ  byte
	body []byte
}

// readAll reads frames from br until an error; a frame larger than limit
// is an error.
func readAll(br *bufio.Reader, limit int) ([]rawFrame, error) {
	var out []rawFrame
	var buf []byte
	for {
		typ, body, nbuf, err := readFrame(br, buf, limit)
		buf = nbuf
		if err != nil {
			return out, err
		}
		out = append(out, rawFrame{typ, slices.Clone(body)})
	}
}

// FuzzFrame reads arbitrary bytes as link frames, in one piece and in
// fuzzed chunks (the same frames either way), requires a clean end only
// between frames, and gives each body to every decoder: none may panic,
// and what one decodes must encode and decode to the same values.
func FuzzFrame(f *testing.F) {
	addSeeds(f, uint8(1), uint16(5))
	f.Add([]byte{frameRoute, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02}, uint8(0), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8, cut uint16) {
		// A frame declared larger than the input cannot complete; the
		// limit spares growing a buffer towards it.
		limit := len(data)
		whole, werr := readAll(bufio.NewReader(bytes.NewReader(data)), limit)
		split, serr := readAll(bufio.NewReaderSize(&chunkReader{data, int(chunk%32) + 1}, 16), limit)
		if !slices.EqualFunc(whole, split, func(a, b rawFrame) bool { return a.typ == b.typ && bytes.Equal(a.body, b.body) }) {
			t.Fatalf("in chunks of %d: %d frames, whole: %d", chunk%32+1, len(split), len(whole))
		}
		if werr.Error() != serr.Error() {
			t.Fatalf("in chunks of %d: %v; whole: %v", chunk%32+1, serr, werr)
		}
		if werr != io.EOF && !errors.Is(werr, errFrame) && werr != io.ErrUnexpectedEOF {
			t.Fatalf("read error %v is neither the end nor a malformed frame", werr)
		}
		// The frames encoded again and cut at a fuzzed offset: the end is
		// clean only between two frames.
		var canon []byte
		boundary := map[int]bool{0: true}
		for _, fr := range whole {
			canon = append(appendHeader(canon, fr.typ, len(fr.body)), fr.body...)
			boundary[len(canon)] = true
		}
		at := int(cut) % (len(canon) + 1)
		if _, err := readAll(bufio.NewReader(bytes.NewReader(canon[:at])), len(canon)); (err == io.EOF) != boundary[at] {
			t.Fatalf("%d frames cut at %d of %d bytes: %v", len(whole), at, len(canon), err)
		}
		for _, fr := range whole {
			checkDecoders(t, fr.typ, fr.body)
		}
		checkDecoders(t, 0, data) // the bytes as one body, too
	})
}

// checkDecoders gives body to every decoder and checks the round trip of
// what decodes.
func checkDecoders(t *testing.T, typ byte, body []byte) {
	t.Helper()
	if f, err := decodeForward(body); err == nil {
		checkForward(t, f)
	}
	if c, err := decodeRoute(body); err == nil {
		back := decodeOne(t, routeFrame(c.tenant, c.version, c.added, c.entry.filter, c.entry.members), frameRoute)
		if c2, err := decodeRoute(back); err != nil || c2 != c {
			t.Fatalf("route %+v: re-decoded %+v, %v", c, c2, err)
		}
	}
	if tn, v, err := decodeTenantVersion(body); err == nil {
		back := decodeOne(t, tenantVersionFrame(frameSnapEnd, tn, v), frameSnapEnd)
		if tn2, v2, err := decodeTenantVersion(back); err != nil || tn2 != tn || v2 != v {
			t.Fatalf("tenant %q version %d: re-decoded %q %d, %v", tn, v, tn2, v2, err)
		}
	}
	var entries []routeEntry
	if err := decodeSnapRoutes(body, func(_ string, e routeEntry) { entries = append(entries, e) }); err == nil {
		r := reader{b: body}
		checkSnapshot(t, r.string(), entries)
	}
	if c, err := decodeChallenge(frameChallenge, body); err == nil {
		back := decodeOne(t, challengeFrame(c.nonce, c.name), frameChallenge)
		if c2, err := decodeChallenge(frameChallenge, back); err != nil || c2.name != c.name || !bytes.Equal(c2.nonce, c.nonce) {
			t.Fatalf("challenge %+v: re-decoded %+v, %v", c, c2, err)
		}
	}
	if _, err := decodeChallenge(typ, body); err == nil && typ != frameChallenge {
		t.Fatalf("frame %d decoded as a challenge", typ)
	}
	if h, err := decodeHello(frameHello, body); err == nil {
		back := decodeOne(t, h.frame(), frameHello)
		if h2, err := decodeHello(frameHello, back); err != nil || !sameHello(h, h2) {
			t.Fatalf("hello %+v: re-decoded %+v, %v", h, h2, err)
		}
	}
	if _, err := decodeHello(typ, body); err == nil && typ != frameHello {
		t.Fatalf("frame %d decoded as a hello", typ)
	}
}

// decodeOne reads fr as exactly one frame of type typ and returns its body.
func decodeOne(t *testing.T, fr []byte, typ byte) []byte {
	t.Helper()
	frames, err := readAll(bufio.NewReader(bytes.NewReader(fr)), len(fr))
	if err != io.EOF || len(frames) != 1 || frames[0].typ != typ {
		t.Fatalf("% x: %d frames (%v), want one of type %d", fr, len(frames), err, typ)
	}
	return frames[0].body
}

// checkForward re-encodes f and requires the same values back.
func checkForward(t *testing.T, f forward) {
	t.Helper()
	rest := append(appendString(nil, f.tenant), f.publish...)
	fr := append(forwardHeader(nil, f.id, f.groups, rest), rest...)
	f2, err := decodeForward(decodeOne(t, fr, frameForward))
	if err != nil || f2.id != f.id || f2.tenant != f.tenant || !bytes.Equal(f2.publish, f.publish) ||
		!slices.Equal(f2.groups, f.groups) {
		t.Fatalf("forward %+v: re-decoded %+v, %v", f, f2, err)
	}
}

// checkSnapshot encodes entries of tenant as a snapshot and requires the
// frames to decode to the same entries, in order.
func checkSnapshot(t *testing.T, tenant string, entries []routeEntry) {
	t.Helper()
	enc := appendSnapshot(nil, tenant, 1, entries)
	frames, err := readAll(bufio.NewReader(bytes.NewReader(enc)), len(enc))
	if err != io.EOF || len(frames) < 2 || frames[0].typ != frameSnapBegin || frames[len(frames)-1].typ != frameSnapEnd {
		t.Fatalf("snapshot of %d entries: %d frames, %v", len(entries), len(frames), err)
	}
	var got []routeEntry
	for _, fr := range frames[1 : len(frames)-1] {
		if fr.typ != frameSnapRoutes {
			t.Fatalf("frame %d inside a snapshot", fr.typ)
		}
		err := decodeSnapRoutes(fr.body, func(tn string, e routeEntry) {
			if tn != tenant {
				t.Fatalf("snapshot of %q names %q", tenant, tn)
			}
			got = append(got, e)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, entries) {
		t.Fatalf("snapshot round trip: %v, want %v", got, entries)
	}
}

func sameHello(a, b hello) bool {
	return a.name == b.name && a.epoch == b.epoch && a.proto == b.proto && slices.Equal(a.tenants, b.tenants) &&
		bytes.Equal(a.proof, b.proof)
}

// FuzzRoundTrip encodes fuzzed values with the package's encoders and
// requires the decoders to give them back.
func FuzzRoundTrip(f *testing.F) {
	f.Add("t", "a/+/#", "$share/g/a", uint64(1), uint64(7), true, uint16(3), "a/b", []byte("hi"))
	f.Add("", "", "", uint64(0), uint64(0), false, uint16(0), "", []byte(nil))
	f.Add("tenant-with-a-long-name", "$share/group/some/long/filter/to/cross/a/snapshot/chunk", "g",
		uint64(1<<63), uint64(1<<40), false, uint16(2000), "x/y", bytes.Repeat([]byte{0}, 300))
	f.Fuzz(func(t *testing.T, tenant, filter, group string, version, id uint64, added bool, n uint16, topic string, payload []byte) {
		c := routeChange{tenant: tenant, version: version, added: added, entry: routeEntry{filter, version >> 1}}
		if c2, err := decodeRoute(decodeOne(t, routeFrame(tenant, version, added, filter, c.entry.members), frameRoute)); err != nil || c2 != c {
			t.Fatalf("route %+v: decoded %+v, %v", c, c2, err)
		}
		for _, typ := range []byte{frameSnapBegin, frameSnapEnd, frameDropTenant, frameRouteAck} {
			tn, v, err := decodeTenantVersion(decodeOne(t, tenantVersionFrame(typ, tenant, version), typ))
			if err != nil || tn != tenant || v != version {
				t.Fatalf("frame %d (%q, %d): decoded %q %d, %v", typ, tenant, version, tn, v, err)
			}
		}
		entries := make([]routeEntry, int(n%2048))
		for i := range entries {
			entries[i] = routeEntry{filter + "/" + strconv.Itoa(i), uint64(i)}
		}
		checkSnapshot(t, tenant, entries)

		m := &packet.Publish{QoS: byte(id % 3), Retain: added, Topic: topic, Payload: payload}
		if m.QoS > 0 {
			m.PacketID = 1
		}
		var groups []string
		if group != "" {
			groups = []string{group, filter}
		}
		fw, err := decodeForward(decodeOne(t, forwardFrame(id, groups, tenant, m), frameForward))
		if err != nil || fw.id != id || fw.tenant != tenant || !slices.Equal(fw.groups, groups) ||
			!bytes.Equal(fw.publish, m.AppendTo(nil, packet.V5)) {
			t.Fatalf("forward %d %q %v: decoded %+v, %v", id, tenant, groups, fw, err)
		}

		nonce := make([]byte, 32)
		copy(nonce, payload)
		ch, err := decodeChallenge(frameChallenge, decodeOne(t, challengeFrame(nonce, tenant), frameChallenge))
		if err != nil || ch.name != tenant || !bytes.Equal(ch.nonce, nonce) {
			t.Fatalf("challenge: decoded %+v, %v", ch, err)
		}
		h := hello{name: tenant, epoch: version, proto: id, tenants: groups, proof: proof([]byte(filter), nonce, tenant, version)}
		h2, err := decodeHello(frameHello, decodeOne(t, h.frame(), frameHello))
		if err != nil || !sameHello(h, h2) {
			t.Fatalf("hello %+v: decoded %+v, %v", h, h2, err)
		}
	})
}

// captureConn is a net.Conn that keeps what is written to it and reads
// from r (nothing when nil).
type captureConn struct {
	out bytes.Buffer
	r   io.Reader
}

func (c *captureConn) Read(p []byte) (int, error) {
	if c.r == nil {
		return 0, io.EOF
	}
	return c.r.Read(p)
}
func (c *captureConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *captureConn) Close() error                     { return nil }
func (c *captureConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *captureConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 2} }
func (c *captureConn) SetDeadline(time.Time) error      { return nil }
func (c *captureConn) SetReadDeadline(time.Time) error  { return nil }
func (c *captureConn) SetWriteDeadline(time.Time) error { return nil }

// fuzzNode is a Cluster made by hand, without gossip or sockets: tenant
// "t" is attached with a broker whose in-process subscribers take every
// message, and peer "p" (epoch 1) has an inbound link writing to conn.
type fuzzNode struct {
	c    *Cluster
	b    *broker.Broker
	in   *inbound
	conn *captureConn
}

// resynced waits until the resync requests gossip asked for are written
// (MergeRemoteState hands them to a goroutine).
func (n *fuzzNode) resynced(t *testing.T) {
	t.Helper()
	testwait.Until(t, 5*time.Second, func() error {
		if n.in.resyncing.Load() {
			return errors.New("resync requests still being written")
		}
		return nil
	})
}

func newFuzzNode(t *testing.T) *fuzzNode {
	t.Helper()
	cfg := Config{Name: "self", GossipAddr: "127.0.0.1:0", LinkAddr: "127.0.0.1:0", MaxFrameBytes: 1 << 20}
	cfg.setDefaults()
	c := newCluster(cfg, zap.NewNop(), 2)
	c.peerInfo["p"] = peerState{state: "alive"}
	b, err := broker.New(broker.Config{SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Attach("t", b, false); err != nil {
		t.Fatal(err)
	}
	for _, filter := range []string{"#", "$share/g/#"} {
		if _, err := b.Subscribe(filter, 1, func(*broker.Message) {}); err != nil {
			t.Fatal(err)
		}
	}
	conn := &captureConn{}
	in := &inbound{c: c, peer: "p", epoch: 1, conn: conn, w: bufio.NewWriterSize(conn, 4096), routeAck: map[string]uint64{},
		done: make(chan struct{})}
	close(in.done) // no reader: a link accepted from "p" replaces it at once
	c.inbound["p"] = in
	c.dedup["p"] = dedupState{epoch: 1}
	return &fuzzNode{c: c, b: b, in: in, conn: conn}
}

func (n *fuzzNode) close(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// routeState is what a node holds of its peers' routes, snapshots in
// progress left out.
type routeState map[string]map[string]viewState

type viewState struct {
	version, hash uint64
	filters       string // sorted "filter=members" lines
}

// routes returns the routes n holds and checks that each tenant's trie
// and each view's hash agree with the views' filters.
func (n *fuzzNode) routes(t *testing.T) routeState {
	t.Helper()
	out := routeState{}
	for tenant, r := range n.c.remote {
		r.mu.Lock()
		views := map[string]viewState{}
		total := 0
		for peer, v := range r.peers {
			var lines []string
			var h uint64
			for f, m := range v.filters {
				lines = append(lines, f+"="+strconv.FormatUint(m, 10))
				h ^= entryHash(f)
			}
			slices.Sort(lines)
			if h != v.hash {
				t.Fatalf("tenant %q peer %q: hash %x, its filters hash to %x", tenant, peer, v.hash, h)
			}
			total += len(v.filters)
			views[peer] = viewState{v.version, v.hash, string(joinLines(lines))}
		}
		r.mu.Unlock()
		if l := r.trie.Len(); l != total {
			t.Fatalf("tenant %q: the trie holds %d routes, the views %d", tenant, l, total)
		}
		out[tenant] = views
	}
	return out
}

func joinLines(lines []string) []byte {
	var b []byte
	for _, l := range lines {
		b = append(append(b, l...), '\n')
	}
	return b
}

// FuzzInbound applies arbitrary frames to an inbound link as its read loop
// does: no frame may panic, a refused frame is an errFrame that changes no
// route and no delivery state, the routes stay consistent with the trie,
// each forward is delivered at most once, and the acknowledgements written
// back decode and acknowledge what was delivered.
func FuzzInbound(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		n := newFuzzNode(t)
		defer n.close(t)
		in := n.in
		br := bufio.NewReader(bytes.NewReader(data))
		var buf []byte
		var pub packet.Publish
		delivered := int64(0)
		for {
			typ, body, nbuf, err := readFrame(br, buf, len(data))
			buf = nbuf
			if err != nil {
				break
			}
			before := n.routes(t)
			lastBefore := in.fwdLast
			pc := n.c.tenant("t").counters("p")
			inBefore, dupBefore := pc.inMsgs.Load(), pc.duplicates.Load()
			if err := in.apply(typ, body, &pub); err != nil {
				if !errors.Is(err, errFrame) {
					t.Fatalf("frame %d refused with %v, not an errFrame", typ, err)
				}
				if after := n.routes(t); !equalRoutes(before, after) {
					t.Fatalf("refused frame %d (%v) changed the routes: %v -> %v", typ, err, before, after)
				}
				if in.fwdLast != lastBefore || pc.inMsgs.Load() != inBefore {
					t.Fatalf("refused frame %d (%v) changed the deliveries", typ, err)
				}
				break // the link ends here
			}
			n.routes(t)
			in.saveDedup() // as flushAcks does before it acknowledges
			if d := n.c.dedup["p"]; d.epoch != 1 || d.last != in.fwdLast {
				t.Fatalf("dedup %+v, the link delivered up to %d", d, in.fwdLast)
			}
			if typ == frameForward {
				fw, _ := decodeForward(body)
				switch {
				case fw.id <= lastBefore:
					if in.fwdLast != lastBefore || (fw.tenant == "t" && pc.duplicates.Load() != dupBefore+1) {
						t.Fatalf("forward %d after %d: delivered again", fw.id, lastBefore)
					}
				case in.fwdLast != fw.id:
					t.Fatalf("forward %d delivered, the link says %d", fw.id, in.fwdLast)
				case fw.tenant == "t":
					delivered++
					if pc.inMsgs.Load() != inBefore+1 {
						t.Fatalf("forward %d not counted", fw.id)
					}
				}
			}
			if br.Buffered() == 0 {
				if err := in.flushAcks(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := in.flushAcks(); err != nil {
			t.Fatal(err)
		}
		checkAcks(t, n.conn.out.Bytes(), in.fwdLast)
		if got := n.c.tenant("t").counters("p").inMsgs.Load(); got != delivered {
			t.Fatalf("%d forwards delivered, %d counted", delivered, got)
		}
	})
}

// checkAcks decodes the answers an inbound link wrote: route and forward
// acknowledgements only, forward ids rising to last.
func checkAcks(t *testing.T, out []byte, last uint64) {
	t.Helper()
	frames, err := readAll(bufio.NewReader(bytes.NewReader(out)), len(out))
	if err != io.EOF {
		t.Fatalf("the acknowledgements do not decode: %v", err)
	}
	acked := uint64(0)
	for _, fr := range frames {
		switch fr.typ {
		case frameRouteAck:
			if _, _, err := decodeTenantVersion(fr.body); err != nil {
				t.Fatal(err)
			}
		case frameForwardAck:
			r := reader{b: fr.body}
			id := r.uint()
			if err := r.end(); err != nil || id <= acked {
				t.Fatalf("forward ack %d after %d: %v", id, acked, err)
			}
			acked = id
		default:
			t.Fatalf("the inbound link answered with frame %d", fr.typ)
		}
	}
	if acked != last {
		t.Fatalf("acknowledged up to %d, delivered up to %d", acked, last)
	}
}

func equalRoutes(a, b routeState) bool {
	// remoteFor and view make empty tables and views on first use, also
	// for a refused frame: those hold nothing, as no table does.
	for _, s := range []struct{ x, y routeState }{{a, b}, {b, a}} {
		for tenant, views := range s.x {
			for peer, v := range views {
				if s.y[tenant][peer] != v {
					return false
				}
			}
		}
	}
	return true
}

// FuzzAcks feeds arbitrary answers to the dialing side of a link with
// forwards in flight: none may panic, an acknowledgement releases exactly
// the forwards up to its id, and the queue's accounting stays whole.
func FuzzAcks(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		n := newFuzzNode(t)
		defer n.close(t)
		tp := n.c.tenant("t")
		l := newLink(n.c, "p", "127.0.0.2:1", 1)
		finished := 0
		body := appendString(nil, "t")
		body = seedPublish("a/b", "x").AppendTo(body, packet.V5)
		for range 5 {
			if !l.forward(tp, "p", body, nil, forwardedFunc(func() { finished++ })) {
				t.Fatal("forward refused")
			}
		}
		l.state, l.sent = "up", len(l.pending)
		err := l.readAcks(&captureConn{r: bytes.NewReader(data)})
		if err != io.EOF && !errors.Is(err, errFrame) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("readAcks: %v", err)
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if finished+len(l.pending) != 5 {
			t.Fatalf("%d publishers released, %d forwards pending, of 5", finished, len(l.pending))
		}
		for i, p := range l.pending {
			if p.id != uint64(5-len(l.pending)+i+1) {
				t.Fatalf("pending %d has id %d", i, p.id)
			}
		}
		var size int64
		for _, p := range l.pending {
			size += p.size
		}
		if size != l.bytes || l.sent > len(l.pending) || l.scan > len(l.pending) {
			t.Fatalf("queue of %d bytes, counted %d; sent %d, scan %d of %d", size, l.bytes, l.sent, l.scan, len(l.pending))
		}
		if a := tp.counters("p").awaiting.Load(); a != int64(len(l.pending)) {
			t.Fatalf("awaiting %d, %d pending", a, len(l.pending))
		}
	})
}

// FuzzMergeRemoteState gives gossip's push/pull state, arbitrary bytes,
// to the delegate of a node with a live inbound link: it must not panic,
// and what it writes to the link is resync requests only.
func FuzzMergeRemoteState(f *testing.F) {
	for _, s := range []string{
		`{"n":"p","e":1,"t":{"t":{"v":1,"h":2}}}`,
		`{"n":"p","e":1,"t":{"t":{"v":0,"h":0},"u":{"v":18446744073709551615,"h":1}}}`,
		`{"n":"p","e":1,"t":{"t":null}}`,
		`{"n":"p","e":2,"t":{"t":{"v":1}}}`,
		`{"n":"self","e":1}`,
		`{"n":"p","e":1,"t":[]}`,
		`{"n":5}`, `null`, `[]`, `{}`, `"x"`, `{"n":"p","e":-1}`, ``, "\xff\x00{",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n := newFuzzNode(t)
		defer n.close(t)
		d := &delegate{c: n.c}
		d.MergeRemoteState(data, false)
		n.resynced(t)
		d.MergeRemoteState(data, true) // a second look: a version still behind
		n.resynced(t)
		d.MergeRemoteState(d.LocalState(false), false)
		n.resynced(t)
		out := n.conn.out.Bytes()
		frames, err := readAll(bufio.NewReader(bytes.NewReader(out)), len(out))
		if err != io.EOF {
			t.Fatalf("resync requests do not decode: %v", err)
		}
		for _, fr := range frames {
			r := reader{b: fr.body}
			r.string()
			if fr.typ != frameResync || r.end() != nil {
				t.Fatalf("frame %d (% x) written to the link", fr.typ, fr.body)
			}
		}
	})
}

// TestMergeRemoteStateGarbage runs the garbage seeds without -fuzz, at
// once, and the route digest a resync answers.
func TestMergeRemoteStateGarbage(t *testing.T) {
	n := newFuzzNode(t)
	defer n.close(t)
	d := &delegate{c: n.c}
	for _, g := range append(garbageSeeds(), []byte(`{"n":"p","e":1,"t":{"t":{"v":"x"}}}`), []byte(`{"t":{"":{}}}`)) {
		d.MergeRemoteState(g, false)
	}
	if n.conn.out.Len() != 0 {
		t.Fatalf("garbage made the node write % x", n.conn.out.Bytes())
	}
	// Same version, another hash: the peer is asked for the tenant again.
	d.MergeRemoteState([]byte(`{"n":"p","e":1,"t":{"t":{"v":0,"h":7}}}`), false)
	n.resynced(t)
	frames, err := readAll(bufio.NewReader(bytes.NewReader(n.conn.out.Bytes())), 1<<10)
	if err != io.EOF || len(frames) != 1 || frames[0].typ != frameResync {
		t.Fatalf("after a differing digest: %d frames, %v", len(frames), err)
	}
}

// forwardedFunc is a broker.ForwardWaiter made of a function.
type forwardedFunc func()

func (f forwardedFunc) Forwarded() { f() }
