package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/internal/packet"
	"github.com/jmqx/jmqx/internal/topics"
)

// ErrClosed is returned by Serve, ServeConn, Publish and Subscribe once
// Shutdown has begun.
var ErrClosed = errors.New("broker: closed")

// Broker is one MQTT broker instance. Create it with New, give it listeners
// (WithListeners, AddListener, or Serve for a net.Listener) or connections
// (ServeConn), and stop it with Shutdown.
type Broker struct {
	cfg          atomic.Pointer[Config] // replaced whole by SetConfig
	limits       limiters
	log          *zap.Logger
	pendingHooks []any
	// pendingListeners are WithListeners', served once New succeeds.
	pendingListeners []Listener
	hooks            atomic.Pointer[hookSet]

	subs     *topics.Trie[*session, subOpts]
	retained *topics.Retained[*message]

	mu        sync.Mutex // guards the fields below; see the lock order in locks.go
	sessions  map[string]*session
	clients   map[*client]struct{}
	listeners map[net.Listener]struct{}
	owned     map[Listener]struct{} // WithListeners and AddListener
	closing   bool

	connWG   sync.WaitGroup // connection goroutines
	bgWG     sync.WaitGroup // $SYS and in-process handler goroutines
	bgMu     sync.Mutex     // guards bgClosed and bgWG.Add
	bgClosed bool
	done     chan struct{} // closed when Shutdown begins
	started  time.Time
	idSeq    atomic.Uint64
	slots    atomic.Int64 // connection slots held (MaxConnections)
	// retainedBytes is the payload size of the retained store.
	retainedBytes atomic.Int64
	stats         counters
	// nodeBudget is the shared budget of WithMemoryBudget (nil: none);
	// mem is this broker's own (Config.MaxMemory), charged to nodeBudget too.
	nodeBudget *Budget
	mem        *Budget
	drops      dropLog

	// peers is the cluster (none: nil), set by SetPeers before serving;
	// routes counts each filter's subscriptions while there are peers.
	// routesMu makes a trie change and its route change one step.
	peers    atomic.Pointer[peersRef]
	routesMu sync.Mutex
	routes   map[string]int
	drain    atomic.Pointer[drainState] // set by Drain (drain.go)

	// store is WithStore's (nil: none); pst writes to it (persist.go);
	// loaded is what New read from it until Restore installs it.
	store       Store
	pst         *persister
	loaded      *StoreContents
	restoreOnce sync.Once
	restoreErr  error
	restoring   atomic.Bool

	readBufs    bufPool
	scratchPool sync.Pool // *scratch
	writeBufs   writePool
}

// New returns a broker configured by cfg (zero fields take their defaults)
// and opts. It starts the $SYS publisher; call Shutdown to stop it.
func New(cfg Config, opts ...Option) (*Broker, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Broker{
		log:       zap.NewNop(),
		subs:      topics.New[*session, subOpts](),
		retained:  topics.NewRetained[*message](),
		sessions:  make(map[string]*session),
		clients:   make(map[*client]struct{}),
		listeners: make(map[net.Listener]struct{}),
		owned:     make(map[Listener]struct{}),
		done:      make(chan struct{}),
		started:   time.Now(),
	}
	b.cfg.Store(&cfg)
	b.limits.set(&cfg)
	for _, o := range opts {
		o(b)
	}
	b.log = b.log.Named("broker")
	b.mem = newChildBudget(cfg.MaxMemory, b.nodeBudget)
	b.drops = dropLog{log: b.log, interval: dropLogInterval}
	hs, err := newHookSet(b.pendingHooks)
	if err != nil {
		b.closeListeners(b.pendingListeners)
		return nil, err
	}
	b.pendingHooks = nil
	b.hooks.Store(hs)
	if b.store != nil {
		if b.loaded, err = b.store.Load(); err != nil {
			_ = b.store.Close()
			b.closeListeners(b.pendingListeners)
			return nil, fmt.Errorf("broker: store: %w", err)
		}
		b.pst = newPersister(b, b.store)
		go b.pst.run(cfg.StoreInterval)
	}
	if cfg.SysInterval > 0 && b.bgAdd() {
		go b.runSys()
	}
	for _, l := range b.pendingListeners {
		if err := b.AddListener(l); err != nil {
			return nil, err // not reached: nothing has shut b down yet
		}
	}
	b.pendingListeners = nil
	return b, nil
}

// Config returns a copy of the broker's effective configuration.
func (b *Broker) Config() Config { return *b.cfg.Load() }

// config returns the current configuration, shared and read-only.
func (b *Broker) config() *Config { return b.cfg.Load() }

// SetConfig replaces the configuration of a running broker (zero fields
// take their defaults). It applies to every later decision at once: a
// lowered limit refuses the next CONNECT, SUBSCRIBE or PUBLISH that
// crosses it, and rate limiters take the new rates now. What was granted
// before stays granted: connections above a lowered MaxConnections and
// subscriptions above a lowered MaxSubscriptionsPerClient remain, and v5
// clients keep the CONNACK properties they were told until they
// reconnect. SysInterval is read once, by New.
func (b *Broker) SetConfig(cfg Config) error {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	b.cfg.Store(&cfg)
	b.limits.set(&cfg)
	b.mem.SetLimit(cfg.MaxMemory)
	return nil
}

// Serve accepts connections on l until l fails or Shutdown is called, which
// closes l. It returns nil after Shutdown, or the accept error otherwise.
func (b *Broker) Serve(l net.Listener) error {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return ErrClosed
	}
	b.listeners[l] = struct{}{}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.listeners, l)
		b.mu.Unlock()
	}()

	var delay time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			select {
			case <-b.done:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = backoff(delay)
				b.log.Warn("accept error; retrying", zap.Error(err), zap.Duration("delay", delay))
				select {
				case <-time.After(delay):
				case <-b.done:
					return nil
				}
				continue
			}
			return fmt.Errorf("broker: accept on %s: %w", l.Addr(), err)
		}
		delay = 0
		if err := b.ServeConn(conn); err != nil {
			_ = conn.Close()
			return nil
		}
	}
}

func backoff(d time.Duration) time.Duration {
	if d == 0 {
		return 5 * time.Millisecond
	}
	if d *= 2; d > time.Second {
		d = time.Second
	}
	return d
}

// ServeConn serves one client connection in a new goroutine and returns at
// once. It takes ownership of conn and closes it when the client ends.
func (b *Broker) ServeConn(conn net.Conn) error {
	b.restoreFirst()
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		_ = conn.Close()
		return ErrClosed
	}
	c := newClient(b, conn)
	b.clients[c] = struct{}{}
	b.connWG.Add(1)
	b.mu.Unlock()
	go c.run()
	return nil
}

// Shutdown stops accepting connections (closing the listeners given to
// Serve, WithListeners and AddListener), disconnects every client (v5
// clients get DISCONNECT 0x8B Server shutting down) and waits for their
// goroutines to end, or for ctx to be done, in which case the remaining
// connections are closed at once and ctx's error is returned.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return b.wait(ctx)
	}
	b.closing = true
	close(b.done)
	for l := range b.listeners {
		_ = l.Close()
	}
	owned := make([]Listener, 0, len(b.owned))
	for l := range b.owned {
		owned = append(owned, l)
	}
	clients := make([]*client, 0, len(b.clients))
	for c := range b.clients {
		clients = append(clients, c)
	}
	b.mu.Unlock()
	b.closeListeners(owned)
	for _, c := range clients {
		c.kick(packet.ServerShuttingDown, ErrServerShutdown)
	}
	err := b.wait(ctx)
	b.mu.Lock()
	for _, s := range b.sessions {
		s.stopTimers()
	}
	b.mu.Unlock()
	b.drops.stop()
	if b.pst != nil {
		if cerr := b.pst.close(ctx); cerr != nil {
			b.log.Error("closing the store", zap.Error(cerr))
		}
	}
	// What the stopped broker still holds leaves with it: give its share
	// of a shared budget back.
	b.nodeBudget.release(b.mem.Used())
	return err
}

// bgAdd counts a new background goroutine, or reports false once
// Shutdown has stopped them.
func (b *Broker) bgAdd() bool {
	b.bgMu.Lock()
	defer b.bgMu.Unlock()
	if b.bgClosed {
		return false
	}
	b.bgWG.Add(1)
	return true
}

func (b *Broker) wait(ctx context.Context) error {
	all := make(chan struct{})
	go func() {
		b.connWG.Wait()
		b.bgMu.Lock()
		b.bgClosed = true
		b.bgMu.Unlock()
		b.bgWG.Wait()
		close(all)
	}()
	select {
	case <-all:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		for c := range b.clients {
			_ = c.conn.Close()
		}
		b.mu.Unlock()
		select { // closed connections end at once; a blocked hook may not
		case <-all:
		case <-time.After(time.Second):
		}
		return ctx.Err()
	}
}

func (b *Broker) closed() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

func (b *Broker) removeClient(c *client) {
	b.mu.Lock()
	delete(b.clients, c)
	b.mu.Unlock()
}
