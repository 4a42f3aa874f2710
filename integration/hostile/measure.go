package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// probeTopic is where the well-behaved pair meets on the tenant "good".
const probeTopic = "probe/rtt"

// prober is a well-behaved MQTT 5 subscriber and publisher on one tenant
// that time QoS 1 round trips: from the publish to the subscriber's receipt.
type prober struct {
	addr    string
	sockets *socketBudget
	timeout time.Duration
	sub     *paho.Client
	pub     *paho.Client
	conns   []*budgetConn
	recv    chan delivery
	seq     uint64
}

// delivery is a probe message the subscriber received.
type delivery struct {
	seq uint64
	at  time.Time
}

// newProber connects the pair to addr and subscribes.
func newProber(ctx context.Context, addr string, sockets *socketBudget, timeout time.Duration) (*prober, error) {
	p := &prober{addr: addr, sockets: sockets, timeout: timeout, recv: make(chan delivery, 1024)}
	if err := p.connect(ctx); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// connect (re)connects both clients and subscribes the subscriber.
func (p *prober) connect(ctx context.Context) error {
	p.close()
	sub, err := p.dial(ctx, "hostile-probe-sub", func(pr paho.PublishReceived) (bool, error) {
		at := time.Now()
		if seq, err := strconv.ParseUint(string(pr.Packet.Payload), 10, 64); err == nil {
			select {
			case p.recv <- delivery{seq: seq, at: at}:
			default: // a backlog of stale deliveries: drop
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("connect subscriber: %w", err)
	}
	p.sub = sub
	sctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	sa, err := sub.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: probeTopic, QoS: 1}}})
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	if len(sa.Reasons) != 1 || sa.Reasons[0] != 1 {
		return fmt.Errorf("subscribe: SUBACK %v, want QoS 1 granted", sa.Reasons)
	}
	if p.pub, err = p.dial(ctx, "hostile-probe-pub", nil); err != nil {
		return fmt.Errorf("connect publisher: %w", err)
	}
	return nil
}

func (p *prober) dial(ctx context.Context, clientID string, onPublish func(paho.PublishReceived) (bool, error)) (*paho.Client, error) {
	conn, err := p.sockets.dial(ctx, p.addr)
	if err != nil {
		return nil, err
	}
	p.conns = append(p.conns, conn)
	cfg := paho.ClientConfig{Conn: conn, PacketTimeout: p.timeout, OnClientError: func(error) {}}
	if onPublish != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){onPublish}
	}
	c := paho.NewClient(cfg)
	cctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if _, err := c.Connect(cctx, &paho.Connect{ClientID: clientID, KeepAlive: 30, CleanStart: true}); err != nil {
		return nil, err
	}
	return c, nil
}

// lost reports whether either client lost its connection.
func (p *prober) lost() bool {
	for _, c := range []*paho.Client{p.sub, p.pub} {
		if c == nil {
			return true
		}
		select {
		case <-c.Done():
			return true
		default:
		}
	}
	return false
}

// close disconnects both clients and closes their sockets.
func (p *prober) close() {
	for _, c := range []*paho.Client{p.pub, p.sub} {
		if c == nil {
			continue
		}
		_ = c.Disconnect(&paho.Disconnect{})
		select {
		case <-c.Done():
		case <-time.After(time.Second):
		}
	}
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.sub, p.pub, p.conns = nil, nil, nil
}

// rttResult is the outcome of one measuring phase.
type rttResult struct {
	samples    []time.Duration
	failures   int // round trips that failed or timed out
	reconnects int
	lastErr    string
}

// measure makes round trips until ctx is done, pausing interval between
// them; a round trip cut short by ctx is neither a sample nor a failure.
func (p *prober) measure(ctx context.Context, interval time.Duration) rttResult {
	var r rttResult
	for ctx.Err() == nil {
		if p.lost() {
			if err := p.connect(ctx); err != nil {
				if ctx.Err() == nil {
					r.fail(err)
					sleep(ctx, time.Second)
				}
				continue
			}
			r.reconnects++
		}
		d, err := p.roundTrip(ctx)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			r.fail(err)
		default:
			r.samples = append(r.samples, d)
		}
		if interval > 0 {
			sleep(ctx, interval)
		}
	}
	return r
}

func (r *rttResult) fail(err error) {
	r.failures++
	r.lastErr = err.Error()
}

// roundTrip publishes the next sequence number at QoS 1 and waits until
// the subscriber has it.
func (p *prober) roundTrip(ctx context.Context) (time.Duration, error) {
	p.seq++
	seq := p.seq
	rctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	start := time.Now()
	msg := &paho.Publish{Topic: probeTopic, QoS: 1, Payload: strconv.AppendUint(nil, seq, 10)}
	if _, err := p.pub.Publish(rctx, msg); err != nil {
		return 0, fmt.Errorf("publish: %w", err)
	}
	for {
		select {
		case d := <-p.recv:
			if d.seq == seq {
				return d.at.Sub(start), nil
			}
		case <-rctx.Done():
			return 0, fmt.Errorf("round trip %d: no delivery within %s", seq, p.timeout)
		}
	}
}

// percentile returns the nearest-rank q-th percentile (0 < q <= 100).
func (r rttResult) percentile(q float64) time.Duration {
	if len(r.samples) == 0 {
		return 0
	}
	s := slices.Clone(r.samples)
	slices.Sort(s)
	i := int(math.Ceil(q/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}
