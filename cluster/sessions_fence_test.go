package cluster

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/jmqx/jmqx/internal/testwait"
)

// linkStall holds the writes of the link connections a node dials to one
// address, between hold and release.
type linkStall struct {
	mu      sync.Mutex
	addr    string
	held    bool
	release chan struct{}
}

// dialer returns a Config.Dial whose connections to s.addr stall on
// command.
func (s *linkStall) dialer() func(string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	return func(addr string) (net.Conn, error) {
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if addr != s.addr {
			return conn, nil
		}
		return &stalledConn{Conn: conn, s: s, closed: make(chan struct{})}, nil
	}
}

func (s *linkStall) hold() {
	s.mu.Lock()
	s.held, s.release = true, make(chan struct{})
	s.mu.Unlock()
}

func (s *linkStall) free() {
	s.mu.Lock()
	if s.held {
		s.held = false
		close(s.release)
	}
	s.mu.Unlock()
}

// stalledConn is a connection under a linkStall.
type stalledConn struct {
	net.Conn
	s      *linkStall
	closed chan struct{}
	once   sync.Once
}

func (c *stalledConn) Write(p []byte) (int, error) {
	c.s.mu.Lock()
	held, release := c.s.held, c.s.release
	c.s.mu.Unlock()
	if held {
		select {
		case <-release:
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	return c.Conn.Write(p)
}

func (c *stalledConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// pendingTo is how many forwards x queued to peer and has not had
// acknowledged.
func pendingTo(x *testNode, peer string) int {
	l := x.c.link(peer)
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending)
}

// callsOf is how many claim steps or fences x awaits answers of.
func callsOf(x *testNode) int {
	x.c.sess.mu.Lock()
	defer x.c.sess.mu.Unlock()
	return len(x.c.sess.calls)
}

// TestTakeoverFencesThirdNodeForwards: a message published on n3 and
// forwarded to the session's holder n1 only (n3 did not route it to n2
// yet), delayed on the n3→n1 link past n2's take of the session, still
// reaches the session on n2: n1 exports it only once n3 answered its
// fence, which n3 writes after that forward.
func TestTakeoverFencesThirdNodeForwards(t *testing.T) {
	n := &testNet{t: t}
	claimWait := func(cfg *Config) { cfg.ClaimWait = 2 * waitFor }
	a := n.start("n1", "127.0.0.1", claimWait)
	b := n.start("n2", "127.0.0.2", claimWait)
	stall := &linkStall{addr: a.c.LinkAddr()}
	c := n.start("n3", "127.0.0.3", claimWait, func(cfg *Config) { cfg.Dial = stall.dialer() })
	n.waitMesh(a, b, c)
	t.Cleanup(stall.free)

	s := mustConnect(t, a, "fenced", connectOpts{clean: true, expiry: 3600})
	s.subscribe(t, "f/#", 1)
	pub := dial(t, c, "pub")
	pub.pub(t, "f/x", "0", 1) // n3 routes f/# to n1
	if m := s.next(t); string(m.Payload) != "0" {
		t.Fatalf("got %q", m.Payload)
	}
	s.leave()
	testwait.Until(t, waitFor, func() error {
		if p := pendingTo(c, "n1"); p > 0 {
			return errors.New("n3: forwards to n1 not acknowledged yet")
		}
		return nil
	})

	stall.hold()
	published := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*waitFor)
		defer cancel()
		_, err := pub.Publish(ctx, &paho.Publish{Topic: "f/x", Payload: []byte("1"), QoS: 1})
		published <- err
	}()
	testwait.Until(t, waitFor, func() error {
		if pendingTo(c, "n1") == 0 {
			return errors.New("n3: message 1 not queued to n1")
		}
		return nil
	})

	type connected struct {
		s   *sessClient
		err error
	}
	moved := make(chan connected, 1)
	go func() {
		s2, err := connectTo(t, b, "fenced", persistent)
		moved <- connected{s2, err}
	}()
	// n2 took the session from n1 while message 1 is on its way: either
	// the take was answered (no fence), or n1 awaits n3's fence answer.
	var done *connected
	testwait.Until(t, waitFor, func() error {
		select {
		case r := <-moved:
			done = &r
			return nil
		default:
		}
		if callsOf(a) > 0 {
			return nil
		}
		return errors.New("n2's take not yet at n1")
	})
	stall.free()
	if done == nil {
		r := <-moved
		done = &r
	}
	if done.err != nil {
		t.Fatal(done.err)
	}
	s2 := done.s
	if !s2.ack.SessionPresent {
		t.Fatal("session present not set on n2")
	}
	if err := <-published; err != nil {
		t.Fatalf("publish of message 1: %v", err)
	}
	select {
	case m := <-s2.msgs:
		if string(m.Payload) != "1" {
			t.Fatalf("got %q, want message 1", m.Payload)
		}
	case <-time.After(waitFor):
		t.Fatal("message 1, acknowledged to its publisher on n3, never reached the session moved to n2")
	}
	if st := a.c.SessionStats(); st.ClaimTimeouts != 0 {
		t.Fatalf("n1 went on without a fence answer: %+v", st)
	}
}
