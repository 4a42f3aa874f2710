package tenant

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/broker/packet"
	"github.com/jmqx/jmqx/listeners"
)

// kind is one of a tenant's four listeners.
type kind int

const (
	kindMQTT kind = iota
	kindMQTTS
	kindWS
	kindWSS
	numKinds
)

// String returns the listener's name in Spec.Listeners and Status.
func (k kind) String() string {
	switch k {
	case kindMQTT:
		return "mqtt"
	case kindMQTTS:
		return "mqtts"
	case kindWS:
		return "ws"
	default:
		return "wss"
	}
}

func (k kind) secure() bool { return k == kindMQTTS || k == kindWSS }

// listenSpec is what one listener should be.
type listenSpec struct {
	port int  // 0: auto
	tls  *TLS // secure kinds only
	path string
}

// served is one bound listener of a tenant.
type served struct {
	kind kind
	want listenSpec
	l    *listeners.Listener
	port int // bound
	done chan struct{}
}

// autoAttempts bounds the ports tried for one "auto" listener.
const autoAttempts = 256

// movedGrace bounds how long a moved listener stays open for its clients
// to read their DISCONNECT (closing a WebSocket listener closes its
// connections).
const movedGrace = 2 * time.Second

// want returns what listener k of spec should be, nil for off.
func (h *Host) want(spec Spec, k kind) (*listenSpec, error) {
	var p Port
	switch k {
	case kindMQTT:
		p = spec.Listeners.MQTT
	case kindMQTTS:
		p = spec.Listeners.MQTTS
	case kindWS:
		p = spec.Listeners.WS
	default:
		p = spec.Listeners.WSS
	}
	w := &listenSpec{}
	if k == kindWS || k == kindWSS {
		w.path = spec.Listeners.WSPath
	}
	if k.secure() {
		w.tls = spec.Listeners.TLS
		if w.tls == nil {
			w.tls = h.cfg.TLS
		}
	}
	switch p {
	case PortOff:
		return nil, nil
	case "":
		if k.secure() && w.tls == nil {
			return nil, nil
		}
		return w, nil
	}
	if k.secure() && w.tls == nil {
		return nil, fmt.Errorf("tenant %q: listeners.%s %s: needs TLS material: set listeners.tls or give the node a certificate", spec.Name, k, p)
	}
	if n, ok := p.Number(); ok {
		w.port = n
	}
	return w, nil
}

// bind binds listener k of a tenant as w says.
func (h *Host) bind(tenant string, k kind, w *listenSpec, avoid map[int]bool) (*served, error) {
	return h.bindSearch(tenant, k, w, avoid, !h.cfg.FixedPorts)
}

// bindSearch is bind where search says whether a busy fixed port moves to
// the next free one.
func (h *Host) bindSearch(tenant string, k kind, w *listenSpec, avoid map[int]bool, search bool) (*served, error) {
	cfg := listeners.Config{Name: tenant + "/" + k.String(),
		WebSocket: listeners.WebSocketConfig{Path: w.path, AllowedOrigins: h.cfg.WSAllowedOrigins}}
	if w.tls != nil {
		cfg.TLS = &listeners.TLSConfig{CertFile: w.tls.CertFile, KeyFile: w.tls.KeyFile, CAFile: w.tls.CAFile, ClientAuth: w.tls.ClientAuth}
	}
	var l *listeners.Listener
	var err error
	if w.port != 0 {
		cfg.Addr = net.JoinHostPort(h.cfg.BindHost, strconv.Itoa(w.port))
		cfg.FixedPort = !search
		l, err = newListener(k, cfg, h.log)
	} else {
		l, err = h.bindAuto(tenant, k, cfg, avoid)
	}
	if err != nil {
		return nil, fmt.Errorf("tenant %q: listeners.%s: %w", tenant, k, err)
	}
	s := &served{kind: k, want: *w, l: l, port: l.Addr().(*net.TCPAddr).Port}
	h.ports.take(s.port)
	return s, nil
}

// bindAuto binds a free port of the Host's range: the hinted one first,
// then the next ones the pool offers.
func (h *Host) bindAuto(tenant string, k kind, cfg listeners.Config, avoid map[int]bool) (*listeners.Listener, error) {
	cfg.FixedPort = true
	var last error
	hint := 0
	if h.hints != nil {
		hint = h.hints(tenant, k.String())
	}
	for i := 0; i < autoAttempts; i++ {
		port := 0
		if i == 0 && hint != 0 && h.ports.free(hint) && !avoid[hint] {
			port = hint
		} else if port = h.ports.next(avoid); port == 0 {
			break
		}
		cfg.Addr = net.JoinHostPort(h.cfg.BindHost, strconv.Itoa(port))
		l, err := newListener(k, cfg, h.log)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, err
		}
		last = err
	}
	if last == nil {
		last = errors.New("every port is taken")
	}
	return nil, fmt.Errorf("no free port in %d-%d: %w", h.cfg.PortMin, h.cfg.PortMax, last)
}

// newListener builds a listener of kind k.
func newListener(k kind, cfg listeners.Config, log *zap.Logger) (*listeners.Listener, error) {
	switch k {
	case kindMQTT:
		return listeners.NewTCP(cfg, log)
	case kindMQTTS:
		return listeners.NewTLS(cfg, log)
	default:
		return listeners.NewWebSocket(cfg, log)
	}
}

// serve hands the listener's connections to b.
func (s *served) serve(b *broker.Broker) {
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		_ = s.l.Serve(func(c net.Conn) { _ = b.ServeConn(c) })
	}()
}

// close stops the listener and waits for its accept loop.
func (s *served) close() {
	_ = s.l.Close()
	if s.done != nil {
		<-s.done
	}
}

// rebind makes listener k of t what w says (nil: off). A listener that
// keeps its port but changes its TLS or path is rebound on the same port
// and keeps its clients (a WebSocket listener's are closed); one that
// changes port is bound anew first, then its clients are told to move.
func (h *Host) rebind(t *running, k kind, w *listenSpec) error {
	cur := t.listeners[k]
	name := t.spec.Name
	switch {
	case cur == nil && w == nil:
		return nil
	case cur == nil:
		s, err := h.bind(name, k, w, nil)
		if err != nil {
			return err
		}
		t.listeners[k] = s
		s.serve(t.broker)
		return nil
	case w == nil:
		h.retire(t, cur, packet.AdministrativeAction, "")
		t.listeners[k] = nil
		return nil
	}
	samePort := w.port == 0 && cur.want.port == 0 || w.port == cur.want.port || w.port == cur.port
	if samePort && sameMaterial(cur.want, *w) {
		cur.want = *w
		return nil
	}
	if samePort {
		// Same port, new certificate or path: rebind in place.
		cur.close()
		fixed := *w
		fixed.port = cur.port
		s, err := h.bind(name, k, &fixed, nil)
		if err != nil {
			s, err = h.bind(name, k, w, nil) // the port was taken meanwhile
		}
		if err != nil {
			h.ports.release(cur.port)
			t.listeners[k] = nil
			return err
		}
		s.want = *w
		if s.port != cur.port {
			h.ports.release(cur.port)
		}
		t.listeners[k] = s
		s.serve(t.broker)
		if s.port != cur.port {
			t.broker.Disconnect(onPort(cur.port), packet.UseAnotherServer, h.addr(s.port))
		}
		return nil
	}
	s, err := h.bind(name, k, w, map[int]bool{cur.port: true})
	if err != nil {
		return err
	}
	t.listeners[k] = s
	s.serve(t.broker)
	h.retire(t, cur, packet.UseAnotherServer, h.addr(s.port))
	return nil
}

// retire tells the clients of a listener to go (rc, with Server Reference
// ref when set), gives them a moment to read it, and closes it.
func (h *Host) retire(t *running, s *served, rc packet.ReasonCode, ref string) {
	match := onPort(s.port)
	n := t.broker.Disconnect(match, rc, ref)
	h.log.Info("listener retired", zap.String("tenant", t.spec.Name), zap.Stringer("listener", s.kind),
		zap.Int("port", s.port), zap.String("moved_to", ref), zap.Int("clients", n))
	deadline := time.Now().Add(movedGrace)
	for n > 0 && time.Now().Before(deadline) && t.broker.CountClients(match) > 0 {
		time.Sleep(5 * time.Millisecond)
	}
	s.close()
	h.ports.release(s.port)
}

// onPort matches the clients connected to a local port.
func onPort(port int) func(*broker.ClientInfo) bool {
	return func(c *broker.ClientInfo) bool {
		a, ok := c.LocalAddr.(*net.TCPAddr)
		return ok && a.Port == port
	}
}

// sameMaterial reports whether two listeners serve with the same TLS
// material and path.
func sameMaterial(a, b listenSpec) bool {
	if a.path != b.path || (a.tls == nil) != (b.tls == nil) {
		return false
	}
	return a.tls == nil || *a.tls == *b.tls
}

// addr formats a bound port with the Host's AdvertiseHost.
func (h *Host) addr(port int) string {
	return net.JoinHostPort(h.cfg.AdvertiseHost, strconv.Itoa(port))
}

// addrs returns the bound listener addresses of t.
func (h *Host) addrs(t *running) map[string]string {
	m := make(map[string]string, numKinds)
	for _, s := range t.listeners {
		if s != nil {
			m[s.kind.String()] = h.addr(s.port)
		}
	}
	return m
}

// status returns t's Status.
func (h *Host) status(t *running) Status {
	return Status{Spec: t.spec.Clone(), Listeners: h.addrs(t), Stats: t.broker.Stats()}
}

// portPool tracks the ports the Host's listeners hold and hands out
// candidates for "auto" listeners, round robin over the range. It has its
// own lock: Close releases ports from several goroutines.
type portPool struct {
	mu       sync.Mutex
	min, max int
	cursor   int
	taken    map[int]bool
}

func newPortPool(lo, hi int) *portPool {
	return &portPool{min: lo, max: hi, cursor: lo, taken: make(map[int]bool)}
}

func (p *portPool) take(port int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.taken[port] = true
}

func (p *portPool) release(port int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.taken, port)
}

func (p *portPool) free(port int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return port >= p.min && port <= p.max && !p.taken[port]
}

// next returns the next port of the range not held and not in avoid, or 0
// when there is none.
func (p *portPool) next(avoid map[int]bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range p.max - p.min + 1 {
		port := p.cursor
		if p.cursor++; p.cursor > p.max {
			p.cursor = p.min
		}
		if !p.taken[port] && !avoid[port] {
			return port
		}
	}
	return 0
}
