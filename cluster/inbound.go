package cluster

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/internal/packet"
)

// handshakeTimeout bounds a link's handshake.
const handshakeTimeout = 5 * time.Second

// maxHandshakeFrame bounds the frames of a handshake and the answers on a
// link: a hello names at most every tenant.
const maxHandshakeFrame = 4 << 20

// readFrame reads one frame into buf (grown as needed, up to max bytes of
// body, and returned for reuse).
func readFrame(br *bufio.Reader, buf []byte, limit int) (byte, []byte, []byte, error) {
	typ, err := br.ReadByte()
	if err != nil {
		return 0, nil, buf, err
	}
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return 0, nil, buf, fmt.Errorf("%w: length: %v", errFrame, err)
	}
	if n > uint64(limit) {
		return 0, nil, buf, fmt.Errorf("%w: %d bytes, more than %d", errFrame, n, limit)
	}
	// Grow as the bytes arrive, not as declared: a peer that announces a
	// large frame and sends little costs little.
	body := buf[:0]
	for uint64(len(body)) < n {
		if len(body) == cap(body) {
			nb := make([]byte, len(body), min(n, uint64(max(2*cap(body), 4096))))
			copy(nb, body)
			body = nb
		}
		m, err := io.ReadAtLeast(br, body[len(body):min(uint64(cap(body)), n)], 1)
		body = body[:len(body)+m]
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // the connection ended inside a frame
		}
		if err != nil {
			return 0, nil, body, err
		}
	}
	return typ, body, body, nil
}

// challenge is the acceptor's opening frame.
type challenge struct {
	nonce []byte
	name  string
}

func decodeChallenge(typ byte, body []byte) (challenge, error) {
	if typ != frameChallenge {
		return challenge{}, fmt.Errorf("%w: frame %d instead of a challenge", errFrame, typ)
	}
	r := reader{b: body}
	c := challenge{nonce: r.bytes(), name: r.string()}
	if err := r.end(); err != nil {
		return c, err
	}
	if len(c.nonce) != 32 {
		return c, fmt.Errorf("%w: nonce of %d bytes", errFrame, len(c.nonce))
	}
	return c, nil
}

// hello is the dialer's answer to a challenge.
type hello struct {
	name    string
	epoch   uint64
	proto   uint64
	tenants []string
	proof   []byte
}

// maxHelloTenants bounds the tenants a hello names.
const maxHelloTenants = 1 << 16

func (h hello) frame() []byte {
	return frame(frameHello, func(b []byte) []byte {
		b = appendUint(appendUint(appendString(b, h.name), h.epoch), h.proto)
		b = appendUint(b, uint64(len(h.tenants)))
		for _, t := range h.tenants {
			b = appendString(b, t)
		}
		return appendString(b, string(h.proof))
	})
}

func decodeHello(typ byte, body []byte) (hello, error) {
	if typ != frameHello {
		return hello{}, fmt.Errorf("%w: frame %d instead of a hello", errFrame, typ)
	}
	r := reader{b: body}
	h := hello{name: r.string(), epoch: r.uint(), proto: r.uint()}
	n := r.uint()
	if n > maxHelloTenants {
		return h, fmt.Errorf("%w: hello names %d tenants", errFrame, n)
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		h.tenants = append(h.tenants, r.string())
	}
	h.proof = r.bytes()
	return h, r.end()
}

// proof is the HMAC a dialer shows for a challenge (nil without a key).
func proof(key, nonce []byte, name string, epoch uint64) []byte {
	if key == nil {
		return nil
	}
	m := hmac.New(sha256.New, key)
	m.Write(nonce)
	m.Write([]byte(name))
	m.Write(binary.BigEndian.AppendUint64(nil, epoch))
	return m.Sum(nil)
}

// inbound is the accepting side of a peer's link: it applies the peer's
// routes and delivers its forwards, and answers with acknowledgements.
type inbound struct {
	c     *Cluster
	peer  string
	epoch uint64
	conn  net.Conn

	// resyncing is set while resync requests are being written.
	resyncing atomic.Bool

	wmu sync.Mutex // guards w
	w   *bufio.Writer

	// done is closed once the link applies no more frames, nor does the
	// one it replaced: a peer's links apply its frames one after another.
	done chan struct{}

	// set by the reader goroutine only
	tenants    map[string]*tenantPeers // cache of c.tenant, valid for tenantsGen
	tenantsGen uint64
	fwdAcked   uint64            // last forward id acknowledged
	fwdLast    uint64            // last forward id delivered (or a duplicate)
	routeAck   map[string]uint64 // tenant → version applied, not yet acknowledged
}

// acceptLoop accepts links until the listener closes.
func (c *Cluster) acceptLoop() {
	defer c.wg.Done()
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			select {
			case <-c.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			c.log.Warn("link accept failed", zap.Error(err))
			time.Sleep(50 * time.Millisecond) // e.g. out of file descriptors: do not spin
			continue
		}
		if !c.allowed(conn.RemoteAddr()) {
			c.log.Warn("link refused: the address is not a cluster member's", zap.Stringer("remote", conn.RemoteAddr()))
			_ = conn.Close()
			continue
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.serveInbound(conn)
		}()
	}
}

// allowed reports whether addr may talk to this node (Config.Allowed).
func (c *Cluster) allowed(addr net.Addr) bool {
	if c.cfg.Allowed == nil {
		return true
	}
	var ip net.IP
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	default:
		host, _, err := net.SplitHostPort(addr.String())
		if err != nil {
			return false
		}
		ip = net.ParseIP(host)
	}
	return ip != nil && c.cfg.Allowed(ip)
}

// serveInbound runs an accepted link.
func (c *Cluster) serveInbound(conn net.Conn) {
	if c.cfg.TLS != nil {
		conn = tls.Server(conn, c.cfg.TLS.Clone())
	}
	in, br, err := c.acceptHandshake(conn)
	if err != nil {
		c.log.Info("link refused", zap.Stringer("remote", conn.RemoteAddr()), zap.Error(err))
		_ = conn.Close()
		return
	}
	err = in.read(br)
	in.saveDedup()
	close(in.done)
	c.mu.Lock()
	if c.inbound[in.peer] == in {
		delete(c.inbound, in.peer)
	}
	c.mu.Unlock()
	_ = conn.Close()
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) { // read ends only with an error
		c.linkErrors.Add(1)
		c.log.Warn("link from peer ended", zap.String("peer", in.peer), zap.Error(err))
	}
}

// acceptHandshake challenges the dialer and checks its hello.
func (c *Cluster) acceptHandshake(conn net.Conn) (*inbound, *bufio.Reader, error) {
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	nonce := make([]byte, 32)
	_, _ = rand.Read(nonce)
	ch := frame(frameChallenge, func(b []byte) []byte { return appendString(appendString(b, string(nonce)), c.cfg.Name) })
	if _, err := conn.Write(ch); err != nil {
		return nil, nil, fmt.Errorf("send challenge: %w", err)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	typ, body, _, err := readFrame(br, nil, maxHandshakeFrame)
	if err != nil {
		return nil, nil, fmt.Errorf("read hello: %w", err)
	}
	h, err := decodeHello(typ, body)
	if err != nil {
		return nil, nil, err
	}
	if h.proto != protocolVersion {
		return nil, nil, fmt.Errorf("node %q speaks link protocol %d, this node %d", h.name, h.proto, protocolVersion)
	}
	if !hmac.Equal(h.proof, proof(c.linkKey, nonce, h.name, h.epoch)) {
		return nil, nil, fmt.Errorf("node %q: wrong cluster secret", h.name)
	}
	if h.name == c.cfg.Name {
		return nil, nil, fmt.Errorf("a link from a node named as this one (%q)", h.name)
	}
	in := &inbound{c: c, peer: h.name, epoch: h.epoch, conn: conn, w: bufio.NewWriterSize(conn, 4096),
		routeAck: map[string]uint64{}, done: make(chan struct{})}
	c.mu.Lock()
	info := c.peerInfo[h.name]
	if c.closed || info.state != "alive" && info.state != "suspect" {
		c.mu.Unlock()
		return nil, nil, fmt.Errorf("node %q is not a live member", h.name)
	}
	old := c.inbound[h.name]
	c.inbound[h.name] = in
	c.mu.Unlock()
	if old != nil {
		old.close()
	}
	if _, err := conn.Write(frame(frameWelcome, func(b []byte) []byte { return b })); err != nil {
		if old != nil {
			<-old.done
		}
		close(in.done)
		return nil, nil, fmt.Errorf("send welcome: %w", err)
	}
	// The old link's reader may still be applying frames it had read
	// (the peer sends again what it did not see acknowledged): this link
	// starts where that one ends, or forwards would be delivered twice.
	if old != nil {
		<-old.done
	}
	c.mu.Lock()
	d := c.dedup[h.name]
	if d.epoch != h.epoch {
		d = dedupState{epoch: h.epoch}
		c.dedup[h.name] = d
	}
	// fwdAcked stays 0: the first answer acknowledges what the old link
	// delivered, which the peer sends again if it missed that answer.
	in.fwdLast = d.last
	c.mu.Unlock()
	// The peer sends a snapshot of every tenant it lists: its routes of
	// any other tenant are gone.
	listed := make(map[string]bool, len(h.tenants))
	for _, t := range h.tenants {
		listed[t] = true
	}
	c.mu.Lock()
	var stale []*remoteRoutes
	for name, r := range c.remote {
		if !listed[name] {
			stale = append(stale, r)
		}
	}
	c.mu.Unlock()
	for _, r := range stale {
		r.drop(h.name)
	}
	_ = conn.SetDeadline(time.Time{})
	c.log.Info("link from peer up", zap.String("peer", h.name), zap.Stringer("remote", conn.RemoteAddr()))
	return in, br, nil
}

// close ends the inbound link.
func (in *inbound) close() { _ = in.conn.Close() }

// read applies the peer's frames until the connection ends.
func (in *inbound) read(br *bufio.Reader) error {
	var buf []byte
	var pub packet.Publish
	for {
		typ, body, nbuf, err := readFrame(br, buf, in.c.cfg.MaxFrameBytes)
		buf = nbuf
		if err != nil {
			return err
		}
		if err := in.apply(typ, body, &pub); err != nil {
			return err
		}
		if br.Buffered() == 0 {
			if err := in.flushAcks(); err != nil {
				return err
			}
		}
	}
}

// apply handles one frame.
func (in *inbound) apply(typ byte, body []byte, pub *packet.Publish) error {
	switch typ {
	case frameForward:
		return in.deliver(body, pub)
	case frameRoute:
		rc, err := decodeRoute(body)
		if err != nil {
			return err
		}
		in.c.remoteFor(rc.tenant).change(in.peer, rc)
		in.routeAck[rc.tenant] = rc.version
	case frameSnapBegin:
		t, _, err := decodeTenantVersion(body)
		if err != nil {
			return err
		}
		in.c.remoteFor(t).beginSnapshot(in.peer)
	case frameSnapRoutes:
		var bad bool
		err := decodeSnapRoutes(body, func(t string, e routeEntry) {
			if !in.c.remoteFor(t).snapshotEntry(in.peer, e) {
				bad = true
			}
		})
		if err == nil && bad {
			err = fmt.Errorf("%w: snapshot routes without a snapshot", errFrame)
		}
		if err != nil {
			return err
		}
	case frameSnapEnd:
		t, v, err := decodeTenantVersion(body)
		if err != nil {
			return err
		}
		if !in.c.remoteFor(t).endSnapshot(in.peer, v) {
			return fmt.Errorf("%w: snapshot end without a snapshot", errFrame)
		}
		in.routeAck[t] = v
	case frameReforward:
		hops, f, err := decodeReforward(body)
		if err != nil {
			return err
		}
		return in.deliverForward(f, hops, pub)
	case frameRetain:
		return in.applyRetain(body, pub)
	case frameDropTenant:
		t, v, err := decodeTenantVersion(body)
		if err != nil {
			return err
		}
		in.c.remoteFor(t).drop(in.peer)
		in.routeAck[t] = v
	default:
		if isSessionFrame(typ) {
			return in.c.sessionFrame(in.peer, typ, body)
		}
		return fmt.Errorf("%w: unexpected frame %d on a link", errFrame, typ)
	}
	return nil
}

// deliver hands a forwarded message to the tenant's broker, once.
func (in *inbound) deliver(body []byte, pub *packet.Publish) error {
	f, err := decodeForward(body)
	if err != nil {
		return err
	}
	return in.deliverForward(f, 0, pub)
}

// deliverForward hands a decoded forward that went through hops nodes to
// the tenant's broker, once; shared groups without a member here go on to
// another member's node.
func (in *inbound) deliverForward(f forward, hops uint64, pub *packet.Publish) error {
	if f.id <= in.fwdLast {
		if t := in.tenant(f.tenant); t != nil {
			t.counters(in.peer).duplicates.Add(1)
		}
		return nil // delivered before the link broke: acknowledged again below
	}
	h, hl, err := packet.ParseFixedHeader(f.publish)
	if err != nil || h.Type != packet.PUBLISH || hl+h.Remaining != len(f.publish) {
		return fmt.Errorf("%w: forward %d: not one PUBLISH packet", errFrame, f.id)
	}
	if err := pub.Decode(h.Flags, f.publish[hl:], packet.V5, false); err != nil {
		return fmt.Errorf("%w: forward %d: %v", errFrame, f.id, err)
	}
	if t := in.tenant(f.tenant); t != nil {
		pc := t.counters(in.peer)
		pc.inMsgs.Add(1)
		pc.inBytes.Add(int64(len(f.publish)))
		if len(f.groups) == 0 {
			t.b.DeliverRemote(pub, nil)
		} else {
			in.deliverShared(t, &f, hops, pub)
		}
	}
	in.fwdLast = f.id
	return nil
}

// saveDedup records the last forward delivered, for the next link from the
// same boot of the peer (before it is acknowledged, and when the link ends).
func (in *inbound) saveDedup() {
	in.c.mu.Lock()
	if d := in.c.dedup[in.peer]; d.epoch == in.epoch && d.last < in.fwdLast {
		in.c.dedup[in.peer] = dedupState{epoch: in.epoch, last: in.fwdLast}
	}
	in.c.mu.Unlock()
}

// tenant returns an attached tenant, from a cache kept while no tenant is
// attached or detached.
func (in *inbound) tenant(name string) *tenantPeers {
	if gen := in.c.tenantGen.Load(); gen != in.tenantsGen || in.tenants == nil {
		in.tenants, in.tenantsGen = map[string]*tenantPeers{}, gen
	}
	t, ok := in.tenants[name]
	if !ok {
		t = in.c.tenant(name)
		if len(in.tenants) < maxCachedTenants {
			in.tenants[name] = t
		}
	}
	return t
}

// maxCachedTenants bounds an inbound link's tenant cache (a peer could name
// any tenant).
const maxCachedTenants = 4096

// flushAcks answers for what was applied since the last answer.
func (in *inbound) flushAcks() error {
	if in.fwdLast != in.fwdAcked {
		in.saveDedup()
	}
	in.wmu.Lock()
	defer in.wmu.Unlock()
	for t, v := range in.routeAck {
		if _, err := in.w.Write(frame(frameRouteAck, func(b []byte) []byte { return appendUint(appendString(b, t), v) })); err != nil {
			return err
		}
		delete(in.routeAck, t)
	}
	if in.fwdLast != in.fwdAcked {
		if _, err := in.w.Write(frame(frameForwardAck, func(b []byte) []byte { return appendUint(b, in.fwdLast) })); err != nil {
			return err
		}
		in.fwdAcked = in.fwdLast
	}
	if in.w.Buffered() == 0 {
		return nil
	}
	_ = in.conn.SetWriteDeadline(time.Now().Add(linkWriteTimeout))
	return in.w.Flush()
}

// requestResync asks the peer for a snapshot of a tenant's routes.
func (in *inbound) requestResync(tenant string) {
	in.wmu.Lock()
	defer in.wmu.Unlock()
	_, err := in.w.Write(frame(frameResync, func(b []byte) []byte { return appendString(b, tenant) }))
	if err == nil {
		_ = in.conn.SetWriteDeadline(time.Now().Add(linkWriteTimeout))
		err = in.w.Flush()
	}
	if err != nil {
		in.close()
	}
}
