package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmqx/jmqx/internal/packet"
)

// storm runs the subscribe and the publish steps against one tenant.
func storm(ctx context.Context, cfg config, subAddr, pubAddr string) (phaseResult, error) {
	res := phaseResult{clients: cfg.clients}
	f := &fleet{version: byte(cfg.version), persistent: cfg.persistent, subs: make([]*subscriber, cfg.clients), all: make(chan struct{})}
	defer f.close()

	logf("subscribe: %d clients, %d at a time", cfg.clients, cfg.concurrency)
	var next atomic.Int64
	var errOnce sync.Once
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= cfg.clients {
					return
				}
				s, err := f.subscribe(ctx, subAddr, i, cfg.opTimeout)
				if err != nil {
					failed.Add(1)
					errOnce.Do(func() { res.subErr = err.Error() })
					continue
				}
				f.subs[i] = s
			}
		}()
	}
	wg.Wait()
	res.subTook = time.Since(start)
	res.subFailed = int(failed.Load())
	res.subscribed = cfg.clients - res.subFailed
	if err := ctx.Err(); err != nil {
		return res, err
	}
	logf("subscribe: %d clients in %s (%.0f/s), %d failed", res.subscribed, res.subTook.Round(time.Millisecond), res.rate(), res.subFailed)

	logf("publish: one QoS 1 command to each client")
	pctx, cancel := context.WithTimeout(ctx, cfg.deadline)
	defer cancel()
	pr := publishAll(pctx, pubAddr, byte(cfg.version), cfg.clients, cfg.opTimeout)
	pubStart := pr.first
	res.published, res.pubFailed = pr.acked, cfg.clients-pr.acked
	if !pr.lastAck.IsZero() {
		res.pubAcksTook = pr.lastAck.Sub(pubStart)
	}
	if pr.err != nil {
		res.pubErr = pr.err.Error()
	}
	if res.subscribed > 0 {
		select {
		case <-f.all:
		case <-pctx.Done():
		}
	}
	var last int64
	for _, s := range f.subs {
		if s == nil {
			continue
		}
		if at := s.got.Load(); at != 0 {
			res.received++
			last = max(last, at)
		}
	}
	res.misses = cfg.clients - res.received
	if last != 0 && !pubStart.IsZero() {
		res.recvTook = time.Unix(0, last).Sub(pubStart)
	}
	logf("publish: %d acknowledged, %d received, %d missed; last received after %s",
		res.published, res.received, res.misses, res.recvTook.Round(time.Millisecond))
	return res, ctx.Err()
}

// fleet is the subscribing clients of one phase.
type fleet struct {
	version    byte
	persistent bool          // clients keep their sessions (-persistent)
	subs       []*subscriber // by index; nil for a client that failed
	received   atomic.Int64
	expected   atomic.Int64
	all        chan struct{} // closed when every subscribed client has its command
	allOnce    sync.Once
	wg         sync.WaitGroup
}

// subscriber is one client, once subscribed.
type subscriber struct {
	conn net.Conn
	got  atomic.Int64 // when the command arrived, in Unix nanoseconds; 0: not yet
}

// clientID and topic name client i.
func clientID(i int) string { return fmt.Sprintf("storm-%06d", i) }
func topic(i int) string    { return "devices/" + clientID(i) + "/cmd" }

// subscribe connects client i, subscribes it to its topic and starts its
// reader.
func (f *fleet) subscribe(ctx context.Context, addr string, i int, timeout time.Duration) (*subscriber, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("client %d: dial: %w", i, err)
	}
	fail := func(err error) (*subscriber, error) {
		_ = conn.Close()
		return nil, fmt.Errorf("client %d: %w", i, err)
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	br := bufio.NewReaderSize(conn, 256)
	if _, err := connect(conn, br, f.version, clientID(i), f.persistent); err != nil {
		return fail(err)
	}
	sub := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: topic(i), QoS: 1}}}
	if _, err := conn.Write(sub.AppendTo(nil, f.version)); err != nil {
		return fail(fmt.Errorf("send subscribe: %w", err))
	}
	p, err := packet.ReadPacket(br, f.version, 0)
	if err != nil {
		return fail(fmt.Errorf("read suback: %w", err))
	}
	sa, ok := p.(*packet.Suback)
	if !ok || sa.PacketID != 1 || len(sa.ReasonCodes) != 1 || sa.ReasonCodes[0] != 1 {
		return fail(fmt.Errorf("subscribe refused: %#v", p))
	}
	_ = conn.SetDeadline(time.Time{})
	s := &subscriber{conn: conn}
	f.expected.Add(1)
	f.wg.Add(1)
	go f.read(s, br, topic(i))
	return s, nil
}

// connect sends a CONNECT (clean start, or with persistent a session
// that outlives the connection for an hour) and checks the CONNACK; it
// returns the Receive Maximum the broker gives (65535 when it says none).
func connect(conn net.Conn, br *bufio.Reader, version byte, id string, persistent bool) (int, error) {
	c := &packet.Connect{Version: version, CleanStart: !persistent, ClientID: id}
	if persistent && version == packet.V5 {
		c.Props.SessionExpiry = 3600
		c.Props.Set(packet.PropSessionExpiry)
	}
	if _, err := conn.Write(c.AppendTo(nil, version)); err != nil {
		return 0, fmt.Errorf("send connect: %w", err)
	}
	p, err := packet.ReadPacket(br, version, 0)
	if err != nil {
		return 0, fmt.Errorf("read connack: %w", err)
	}
	ca, ok := p.(*packet.Connack)
	if !ok {
		return 0, fmt.Errorf("%T instead of a connack", p)
	}
	if ca.ReasonCode != packet.Success {
		return 0, fmt.Errorf("connect refused: reason code 0x%02x", byte(ca.ReasonCode))
	}
	if version == packet.V5 && ca.Props.Has(packet.PropReceiveMaximum) {
		return int(ca.Props.ReceiveMaximum), nil
	}
	return 65535, nil
}

// read acknowledges what s receives and records its command's arrival,
// until the connection closes.
func (f *fleet) read(s *subscriber, br *bufio.Reader, want string) {
	defer f.wg.Done()
	for {
		p, err := packet.ReadPacket(br, f.version, 0)
		if err != nil {
			return
		}
		pub, ok := p.(*packet.Publish)
		if !ok {
			continue
		}
		if pub.QoS > 0 {
			ack := &packet.Ack{Type: packet.PUBACK, PacketID: pub.PacketID}
			if _, err := s.conn.Write(ack.AppendTo(nil, f.version)); err != nil {
				return
			}
		}
		if pub.Topic == want && s.got.CompareAndSwap(0, time.Now().UnixNano()) {
			if f.received.Add(1) == f.expected.Load() {
				f.allOnce.Do(func() { close(f.all) })
			}
		}
	}
}

// close closes every client and waits for their readers.
func (f *fleet) close() {
	for _, s := range f.subs {
		if s != nil {
			_ = s.conn.Close()
		}
	}
	f.wg.Wait()
}

// pubResult is what the publisher saw.
type pubResult struct {
	first   time.Time // when the first PUBLISH was written
	acked   int
	lastAck time.Time
	err     error // the first failure
}

// publishAll publishes one QoS 1 command to each of n topics on one
// connection, with at most the broker's Receive Maximum unacknowledged.
func publishAll(ctx context.Context, addr string, version byte, n int, timeout time.Duration) pubResult {
	var res pubResult
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		res.err = fmt.Errorf("publisher: dial: %w", err)
		return res
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	br := bufio.NewReaderSize(conn, 64<<10)
	_ = conn.SetDeadline(time.Now().Add(timeout))
	window, err := connect(conn, br, version, "storm-publisher", false)
	if err != nil {
		res.err = fmt.Errorf("publisher: %w", err)
		return res
	}
	_ = conn.SetDeadline(time.Time{})
	ids := make(chan uint16, window)
	for id := range window {
		ids <- uint16(id + 1)
	}
	var acked atomic.Int64
	var lastAck atomic.Int64
	var readErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for acked.Load() < int64(n) {
			p, err := packet.ReadPacket(br, version, 0)
			if err != nil {
				readErr = fmt.Errorf("publisher: read: %w", err)
				return
			}
			a, ok := p.(*packet.Ack)
			if !ok || a.Type != packet.PUBACK {
				continue
			}
			if a.ReasonCode >= 0x80 {
				readErr = fmt.Errorf("publisher: PUBACK reason code 0x%02x", byte(a.ReasonCode))
				return
			}
			acked.Add(1)
			lastAck.Store(time.Now().UnixNano())
			ids <- a.PacketID
		}
	}()
	var buf []byte
	w := bufio.NewWriterSize(conn, 64<<10)
send:
	for i := range n {
		var id uint16
		select {
		case id = <-ids:
		default:
			// The window is full: what is buffered goes before waiting.
			if err := w.Flush(); err != nil {
				res.err = fmt.Errorf("publisher: write: %w", err)
				break send
			}
			select {
			case id = <-ids:
			case <-done:
				break send
			case <-ctx.Done():
				break send
			}
		}
		if i == 0 {
			res.first = time.Now()
		}
		p := &packet.Publish{QoS: 1, Topic: topic(i), PacketID: id, Payload: []byte("cmd")}
		buf = p.AppendTo(buf[:0], version)
		if _, err := w.Write(buf); err != nil {
			res.err = fmt.Errorf("publisher: write: %w", err)
			break
		}
	}
	if err := w.Flush(); err != nil && res.err == nil {
		res.err = fmt.Errorf("publisher: write: %w", err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		_ = conn.Close()
		<-done
	}
	res.acked = int(acked.Load())
	if at := lastAck.Load(); at != 0 {
		res.lastAck = time.Unix(0, at)
	}
	if res.err == nil && res.acked < n {
		res.err = readErr
		if res.err == nil {
			res.err = fmt.Errorf("publisher: %d of %d acknowledged: %v", res.acked, n, ctx.Err())
		}
	}
	return res
}
