package cluster

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/testwait"
)

// closeWait bounds how long a refused connection may stay open: the
// handshake deadline and some margin.
const closeWait = handshakeTimeout + 3*time.Second

// startObserved starts a node as testNet.start does, with the secret and
// timings of like, and keeps its log entries of Info and above in logs.
func (n *testNet) startObserved(like *testNode, name, ip string) (*testNode, *observer.ObservedLogs) {
	t := n.t
	t.Helper()
	cfg := like.cfg
	cfg.Name, cfg.GossipAddr, cfg.LinkAddr = name, ip+":0", ip+":0"
	core, logs := observer.New(zap.InfoLevel)
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel), zaptest.WrapOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewTee(c, core)
	}))).With(zap.String("node", name))
	b, err := broker.New(broker.Config{SysInterval: -1}, broker.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Attach("t", b, false); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.Serve(ln) }()
	x := &testNode{name: name, ip: ip, cfg: cfg, b: b, c: c, mqtt: ln.Addr().String(), ln: ln}
	n.mu.Lock()
	n.nodes = append(n.nodes, x)
	n.mu.Unlock()
	t.Cleanup(func() { x.stop(t) })
	return x, logs
}

// rawLink dials x's link address as a peer would and reads its challenge.
func rawLink(t *testing.T, x *testNode) (net.Conn, *bufio.Reader, challenge) {
	t.Helper()
	conn, err := net.Dial("tcp", x.c.LinkAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	br := bufio.NewReader(conn)
	typ, body, _, err := readFrame(br, nil, maxHandshakeFrame)
	if err != nil {
		t.Fatalf("read the challenge of %s: %v", x.name, err)
	}
	ch, err := decodeChallenge(typ, body)
	if err != nil || ch.name != x.name {
		t.Fatalf("challenge of %s: %+v, %v", x.name, ch, err)
	}
	return conn, br, ch
}

// closedWithin reads conn until the other end closes it, and fails when
// it is still open after d.
func closedWithin(conn net.Conn, d time.Duration) error {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("still open after %s", d)
	}
	return nil // the end, or a reset: closed either way
}

// checkFlow requires a message published on each node to reach a
// subscriber on each node.
func checkFlow(t *testing.T, nodes []*testNode, topic string) {
	t.Helper()
	subs := make([]*client, len(nodes))
	for i, x := range nodes {
		subs[i] = dial(t, x, topic+"-sub-"+x.name)
		subs[i].sub(t, topic+"/#", 1)
	}
	for _, x := range nodes {
		dial(t, x, topic+"-pub-"+x.name).pub(t, topic+"/"+x.name, x.name, 1)
	}
	for i, s := range subs {
		got := map[string]bool{}
		for range nodes {
			got[string(s.expect(t).Payload)] = true
		}
		for _, x := range nodes {
			if !got[x.name] {
				t.Errorf("the subscriber on %s missed the message from %s", nodes[i].name, x.name)
			}
		}
	}
}

// refusals returns the errors n logged refusing links.
func refusals(logs *observer.ObservedLogs) []string {
	var out []string
	for _, e := range logs.FilterMessage("link refused").All() {
		out = append(out, fmt.Sprint(e.ContextMap()["error"]))
	}
	return out
}

// TestLinkRefusesGarbage: a connection to the link address that does not
// complete a valid handshake (garbage, a wrong secret, a stranger's name,
// a frame too large, or silence until the handshake deadline) is closed
// with one log line, and the node's links and message flow carry on.
func TestLinkRefusesGarbage(t *testing.T) {
	n := &testNet{t: t}
	n2, n3 := n.start("n2", "127.0.0.2"), n.start("n3", "127.0.0.3")
	n1, logs := n.startObserved(n2, "n1", "127.0.0.1")
	nodes := []*testNode{n1, n2, n3}
	n.waitMesh(nodes...)

	key, epoch := n1.c.linkKey, n2.c.epoch
	raw := func(b []byte) func([]byte) []byte { return func([]byte) []byte { return b } }
	hi := func(name string, proto uint64, key []byte) func([]byte) []byte {
		return func(nonce []byte) []byte {
			return hello{name: name, epoch: epoch, proto: proto, tenants: []string{"t"}, proof: proof(key, nonce, name, epoch)}.frame()
		}
	}
	cases := []struct {
		name string
		send func(nonce []byte) []byte
		why  string // in the refusal the node logs
	}{
		{"garbage", raw(bytes.Repeat([]byte{0xff}, 16)), "length"},
		{"http", raw([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")), "i/o timeout"},
		{"not a hello", raw(forwardFrame(1, nil, "t", seedPublish("a", "b"))), "instead of a hello"},
		{"wrong secret", hi("n2", protocolVersion, derive([]byte("another secret"), "jmqx link")), "wrong cluster secret"},
		{"no proof", hi("n2", protocolVersion, nil), "wrong cluster secret"},
		{"other protocol", hi("n2", protocolVersion+1, key), "link protocol 2"},
		{"stranger", hi("intruder", protocolVersion, key), "not a live member"},
		{"its own name", hi("n1", protocolVersion, key), "named as this one"},
		{"huge frame", raw(appendHeader(nil, frameHello, 1<<40)), "more than"},
		{"slow frame", raw(append(appendHeader(nil, frameHello, 1<<20), 1, 2, 3)), "i/o timeout"},
		{"silence", raw(nil), "i/o timeout"},
	}
	start := time.Now()
	done := make(chan string, len(cases))
	for _, tc := range cases {
		conn, _, ch := rawLink(t, n1)
		if _, err := conn.Write(tc.send(ch.nonce)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		go func() {
			if err := closedWithin(conn, closeWait); err != nil {
				done <- tc.name + ": " + err.Error()
				return
			}
			done <- ""
		}()
	}
	for range cases {
		if msg := <-done; msg != "" {
			t.Error(msg)
		}
	}
	t.Logf("every refused connection closed within %s", time.Since(start).Round(time.Millisecond))
	testwait.Until(t, waitFor, func() error {
		if got := refusals(logs); len(got) < len(cases) {
			return fmt.Errorf("%d refusals logged, want %d: %q", len(got), len(cases), got)
		}
		return nil
	})
	logged := strings.Join(refusals(logs), "\n")
	for _, tc := range cases {
		if !strings.Contains(logged, tc.why) {
			t.Errorf("%s: no refusal mentions %q:\n%s", tc.name, tc.why, logged)
		}
	}
	if e := n1.c.NodeStats().LinkErrors; e != 0 {
		t.Errorf("%d links of n1 broke", e)
	}
	n.waitMesh(nodes...)
	checkFlow(t, nodes, "after")
}

// TestLinkDropsGarbageFromAPeer: a connection that completes the
// handshake as a live member (replacing that member's inbound link) and
// then sends garbage is closed, logged and counted; the member's real link
// comes back and messages flow.
func TestLinkDropsGarbageFromAPeer(t *testing.T) {
	n := &testNet{t: t}
	n2, n3 := n.start("n2", "127.0.0.2"), n.start("n3", "127.0.0.3")
	n1, logs := n.startObserved(n2, "n1", "127.0.0.1")
	nodes := []*testNode{n1, n2, n3}
	n.waitMesh(nodes...)

	// The hello and the garbage go in one write. The hello replaces n2's
	// inbound link, and n2 dials again at once: if its new link replaces
	// this one before the welcome, this one is closed unwelcomed; try
	// again.
	garbage := []byte{99, 3, 1, 2, 3} // a frame of no known type
	var conn net.Conn
	testwait.Until(t, waitFor, func() error {
		c, br, ch := rawLink(t, n1)
		h := hello{name: "n2", epoch: n2.c.epoch, proto: protocolVersion, tenants: []string{"t"},
			proof: proof(n1.c.linkKey, ch.nonce, "n2", n2.c.epoch)}
		if _, err := c.Write(append(h.frame(), garbage...)); err != nil {
			return err
		}
		if typ, _, _, err := readFrame(br, nil, 1<<10); err != nil || typ != frameWelcome {
			return fmt.Errorf("after the hello: frame %d, %v; want a welcome", typ, err)
		}
		conn = c
		return nil
	})
	if err := closedWithin(conn, closeWait); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, waitFor, func() error {
		for _, e := range logs.FilterMessage("link from peer ended").All() {
			if m := e.ContextMap(); m["peer"] == "n2" && strings.Contains(fmt.Sprint(m["error"]), "unexpected frame 99") {
				return nil
			}
		}
		return errors.New("the garbage is not logged")
	})
	if e := n1.c.NodeStats().LinkErrors; e < 1 {
		t.Errorf("n1 counts %d link errors", e)
	}
	testwait.Until(t, waitFor, func() error {
		n1.c.mu.Lock()
		in := n1.c.inbound["n2"]
		n1.c.mu.Unlock()
		if in == nil || in.conn.RemoteAddr().String() == conn.LocalAddr().String() {
			return errors.New("n2's link to n1 is not back")
		}
		return nil
	})
	n.waitMesh(nodes...)
	checkFlow(t, nodes, "after")
}
