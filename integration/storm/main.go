// Command storm measures a connect storm on the jmqx binary (issue 11): how
// fast N clients connect and subscribe on one node and on a three-node
// cluster, and whether a command published to each of them afterwards
// reaches every one.
//
// Usage, from the module root:
//
//	go run ./integration/storm [flags]
//	go run ./integration/storm -clients 10000 -concurrency 200
//
// It builds ./cmd/jmqx into a temporary directory (or uses -jmqx) and runs
// two phases, each on fresh "jmqx serve" processes with their own data
// directories:
//
//  1. single: one node on 127.0.0.1.
//  2. cluster: three nodes on 127.0.0.1, .2 and .3, as on three machines:
//     the same admin, Raft, MQTT, gossip and link ports on each
//     (--bind-host, --advertise-host), the second and the third joining the
//     first (--join). The phase starts once every node lists every other
//     healthy with an up link.
//
// In each phase it creates the tenant "storm" (anonymous, MQTT on an
// automatic port, no limit on connections or connects per second), then:
//
//   - subscribe: -clients clients, -concurrency at a time, each connect
//     (clean start, MQTT -version, waiting for the CONNACK) and subscribe at
//     QoS 1 to devices/<id>/cmd, on node B in the cluster. The rate is the
//     clients subscribed over the time from the first CONNECT to the last
//     SUBACK.
//   - publish: one publisher, on node A in the cluster, publishes one QoS 1
//     command to each devices/<id>/cmd, keeping at most the broker's Receive
//     Maximum unacknowledged. Each client acknowledges its command; one that
//     has not got it within -deadline of the publisher connecting is a miss.
//
// With -rounds N the phases run N times, alternating, each on fresh nodes:
// on a shared machine one round's rate varies with what else runs, and the
// rates compared are each phase's median. The report gives every round's
// figures (subscribe rate, misses, and the time from the first PUBLISH to
// the last command received), both median rates and their ratio (cluster
// over single; the target is at least -target-ratio; misses: none). The
// exit status is 0 when every target is met, 1 when not, and 2 when the
// measurement could not run.
//
// The program holds -clients sockets at once: it raises its soft limit of
// open files to the hard one before anything starts (the brokers inherit
// it; jmqx serve, a Go program, also raises its own) and refuses a -clients
// that does not fit. On exit, on a failure and on Ctrl-C, every node it
// started gets SIGTERM (SIGKILL after 10 s; each also dies with this program
// through PR_SET_PDEATHSIG), and the temporary directory is removed.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jmqx/jmqx/broker/packet"
)

// config is what the flags say.
type config struct {
	clients      int
	concurrency  int
	version      int
	deadline     time.Duration
	opTimeout    time.Duration
	startTimeout time.Duration
	targetRatio  float64
	jmqxBin      string
	phases       string
	rounds       int
	logLevel     string
}

func parseFlags() (config, error) {
	var c config
	flag.IntVar(&c.clients, "clients", 10000, "`N` subscribing clients, each with its own socket")
	flag.IntVar(&c.concurrency, "concurrency", 200, "`C` clients connecting and subscribing at once")
	flag.IntVar(&c.version, "version", 5, "MQTT protocol `LEVEL` of every client: 4 (3.1.1) or 5")
	flag.DurationVar(&c.deadline, "deadline", 60*time.Second, "a client without its command this long after the publisher connects is a miss")
	flag.DurationVar(&c.opTimeout, "op-timeout", 30*time.Second, "bound on one client's connect and subscribe")
	flag.DurationVar(&c.startTimeout, "start-timeout", 60*time.Second, "how long the nodes may take to be ready, meshed and serving the tenant")
	flag.Float64Var(&c.targetRatio, "target-ratio", 0.8, "the cluster's subscribe rate must be at least `R` times the single node's")
	flag.StringVar(&c.jmqxBin, "jmqx", "", "use this jmqx `BINARY` instead of building ./cmd/jmqx")
	flag.StringVar(&c.phases, "phases", "single,cluster", "comma-separated `LIST` of phases to run: single, cluster")
	flag.IntVar(&c.rounds, "rounds", 1, "run the phases `N` times, alternating, on fresh nodes each time; the rates compared are the medians")
	flag.StringVar(&c.logLevel, "broker-log-level", "warn", "jmqx serve --log-level (its log goes to a bounded buffer, shown if it fails)")
	flag.Parse()
	switch {
	case flag.NArg() > 0:
		return c, fmt.Errorf("unexpected arguments %q", flag.Args())
	case c.clients < 1 || c.concurrency < 1 || c.rounds < 1:
		return c, errors.New("-clients, -concurrency and -rounds must be positive")
	case c.version != 4 && c.version != 5:
		return c, fmt.Errorf("-version %d: want 4 or 5", c.version)
	case c.deadline <= 0 || c.opTimeout <= 0 || c.startTimeout <= 0:
		return c, errors.New("durations must be positive")
	}
	for _, p := range strings.Split(c.phases, ",") {
		if p != "single" && p != "cluster" {
			return c, fmt.Errorf("-phases: unknown phase %q", p)
		}
	}
	return c, nil
}

func main() { os.Exit(run()) }

// run measures and returns the exit status.
func run() int {
	cfg, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "storm:", err)
		return 2
	}
	if err := raiseNoFile(cfg.clients + cfg.concurrency + 200); err != nil {
		fmt.Fprintln(os.Stderr, "storm:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := measureAll(ctx, cfg)
	if rep != nil {
		if err != nil {
			rep.incomplete = err.Error()
		}
		rep.print(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "storm:", err)
		return 2
	}
	if len(rep.failures()) > 0 {
		return 1
	}
	return 0
}

// raiseNoFile raises the soft limit of open files to the hard one and
// checks that need files fit.
func raiseNoFile(need int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("open files limit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("raise the open files limit to %d: %w", lim.Max, err)
		}
	}
	if uint64(need) > lim.Cur {
		return fmt.Errorf("-clients needs about %d open files, the limit is %d (hard): lower -clients", need, lim.Cur)
	}
	logf("open files limit %d (hard %d)", lim.Cur, lim.Max)
	return nil
}

// measureAll builds jmqx and runs the phases; the report holds what ran.
func measureAll(ctx context.Context, cfg config) (*report, error) {
	dir, err := os.MkdirTemp("", "jmqx-storm-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := cfg.jmqxBin
	if bin == "" {
		logf("building ./cmd/jmqx")
		if bin, err = buildJMQX(ctx, dir); err != nil {
			return nil, err
		}
	}
	rep := &report{cfg: cfg}
	for round := range cfg.rounds {
		for _, p := range strings.Split(cfg.phases, ",") {
			nodes := 1
			if p == "cluster" {
				nodes = 3
			}
			res, err := runPhase(ctx, cfg, bin, filepath.Join(dir, fmt.Sprint(p, round)), p, nodes)
			res.round = round + 1
			if err != nil {
				return rep, fmt.Errorf("phase %s: %w", p, err)
			}
			rep.phases = append(rep.phases, res)
		}
	}
	return rep, nil
}

// hostIPs are the "machines" of the cluster phase: Linux routes all of
// 127.0.0.0/8 to the loopback interface without setup.
var hostIPs = []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}

// runPhase starts n nodes, creates the tenant, and measures: clients on
// the second node (the only one when n is 1), the publisher on the first.
func runPhase(ctx context.Context, cfg config, bin, dir, name string, n int) (phaseResult, error) {
	logf("%s: starting %d node(s)", name, n)
	ports, err := freePortsOnAll(hostIPs[:n], 5) // admin, Raft, MQTT, gossip, link
	if err != nil {
		return phaseResult{}, err
	}
	var nodes []*nodeProc
	defer func() {
		for _, x := range nodes {
			x.stop()
		}
	}()
	for i := range n {
		x := &nodeProc{id: fmt.Sprint("n", i+1), ip: hostIPs[i], bin: bin, dir: filepath.Join(dir, fmt.Sprint("n", i+1)),
			ports: ports, log: &tailBuffer{max: 64 << 10}, exited: make(chan struct{})}
		join := ""
		if i > 0 {
			join = nodes[0].addr(0)
		}
		if err := x.start(join, cfg.logLevel); err != nil {
			return phaseResult{}, err
		}
		nodes = append(nodes, x)
		if err := x.waitReady(ctx, cfg.startTimeout); err != nil {
			if ctx.Err() != nil {
				return phaseResult{}, err
			}
			return phaseResult{}, fmt.Errorf("%w\n--- %s log (tail) ---\n%s", err, x.id, x.log.String())
		}
	}
	setup, cancel := context.WithTimeout(ctx, cfg.startTimeout)
	defer cancel()
	if n > 1 {
		if err := waitMesh(setup, nodes); err != nil {
			return phaseResult{}, err
		}
	}
	addrs, err := createTenant(setup, nodes)
	if err != nil {
		return phaseResult{}, err
	}
	pubAddr, subAddr := addrs[nodes[0].id], addrs[nodes[min(1, n-1)].id]
	logf("%s: tenant storm: clients on %s, publisher on %s", name, subAddr, pubAddr)
	res, err := storm(ctx, cfg, subAddr, pubAddr)
	res.name, res.nodes = name, n
	for _, x := range nodes {
		if x.exitedEarly() {
			return res, fmt.Errorf("node %s exited during the run\n--- log (tail) ---\n%s", x.id, x.log.String())
		}
	}
	return res, err
}

// phaseResult is what one phase measured.
type phaseResult struct {
	name        string
	round       int
	nodes       int
	clients     int
	subscribed  int
	subFailed   int
	subErr      string // the first failure
	subTook     time.Duration
	published   int // acknowledged PUBLISHes
	pubFailed   int // not sent or refused
	pubErr      string
	pubAcksTook time.Duration // first PUBLISH to last PUBACK
	received    int
	misses      int
	recvTook    time.Duration // first PUBLISH to last command received
}

func (r phaseResult) rate() float64 {
	if r.subTook <= 0 {
		return 0
	}
	return float64(r.subscribed) / r.subTook.Seconds()
}

// storm runs the subscribe and the publish steps against one tenant.
func storm(ctx context.Context, cfg config, subAddr, pubAddr string) (phaseResult, error) {
	res := phaseResult{clients: cfg.clients}
	f := &fleet{version: byte(cfg.version), subs: make([]*subscriber, cfg.clients), all: make(chan struct{})}
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
	version  byte
	subs     []*subscriber // by index; nil for a client that failed
	received atomic.Int64
	expected atomic.Int64
	all      chan struct{} // closed when every subscribed client has its command
	allOnce  sync.Once
	wg       sync.WaitGroup
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
	if _, err := connect(conn, br, f.version, clientID(i)); err != nil {
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

// connect sends a clean-start CONNECT and checks the CONNACK; it returns
// the Receive Maximum the broker gives (65535 when it says none).
func connect(conn net.Conn, br *bufio.Reader, version byte, id string) (int, error) {
	c := &packet.Connect{Version: version, CleanStart: true, ClientID: id}
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
	window, err := connect(conn, br, version, "storm-publisher")
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

// report is what every phase found.
type report struct {
	cfg        config
	phases     []phaseResult
	incomplete string // why the run stopped early; "" when it did not
}

// medianRate returns the median subscribe rate of a phase over the rounds.
func (r *report) medianRate(name string) (float64, bool) {
	var rates []float64
	for _, p := range r.phases {
		if p.name == name {
			rates = append(rates, p.rate())
		}
	}
	if len(rates) == 0 {
		return 0, false
	}
	slices.Sort(rates)
	if n := len(rates); n%2 == 0 {
		return (rates[n/2-1] + rates[n/2]) / 2, true
	}
	return rates[len(rates)/2], true
}

// ratio returns the cluster's median subscribe rate over the single node's.
func (r *report) ratio() (float64, bool) {
	s, ok1 := r.medianRate("single")
	c, ok2 := r.medianRate("cluster")
	if !ok1 || !ok2 || s == 0 {
		return 0, false
	}
	return c / s, true
}

// failures lists the targets missed; empty means the run passed.
func (r *report) failures() []string {
	var f []string
	if r.incomplete != "" {
		f = append(f, "the run did not complete: "+strings.SplitN(r.incomplete, "\n", 2)[0])
	}
	for _, p := range r.phases {
		if p.subFailed > 0 {
			f = append(f, fmt.Sprintf("%s #%d: %d clients failed to subscribe (first: %s)", p.name, p.round, p.subFailed, p.subErr))
		}
		if p.pubFailed > 0 {
			f = append(f, fmt.Sprintf("%s #%d: %d commands not acknowledged (%s)", p.name, p.round, p.pubFailed, p.pubErr))
		}
		if p.misses > 0 {
			f = append(f, fmt.Sprintf("%s #%d: %d clients missed their command", p.name, p.round, p.misses))
		}
	}
	if ratio, ok := r.ratio(); ok && ratio < r.cfg.targetRatio {
		f = append(f, fmt.Sprintf("subscribe rate ratio %.2f below the target %.2f", ratio, r.cfg.targetRatio))
	}
	return f
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\nconnect storm: %d clients, %d at a time, MQTT level %d\n\n", r.cfg.clients, r.cfg.concurrency, r.cfg.version)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\tround\tnodes\tsubscribed\tsubscribe time\tsubscribes/s\tcommands acked\tPUBACKs done\treceived\tmisses\tpublish→all received")
	for _, p := range r.phases {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d/%d\t%s\t%.0f\t%d\t%s\t%d\t%d\t%s\n", p.name, p.round, p.nodes, p.subscribed, p.clients,
			p.subTook.Round(time.Millisecond), p.rate(), p.published, p.pubAcksTook.Round(time.Millisecond),
			p.received, p.misses, p.recvTook.Round(time.Millisecond))
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	for _, name := range []string{"single", "cluster"} {
		if rate, ok := r.medianRate(name); ok {
			fmt.Fprintf(w, "subscribe rate, %s (median of %d): %.0f/s\n", name, r.cfg.rounds, rate)
		}
	}
	if ratio, ok := r.ratio(); ok {
		fmt.Fprintf(w, "subscribe rate, cluster / single: %.2f (target ≥ %.2f)\n", ratio, r.cfg.targetRatio)
	}
	if f := r.failures(); len(f) > 0 {
		fmt.Fprintln(w, "\nFAIL:")
		for _, s := range f {
			fmt.Fprintln(w, "  "+s)
		}
	} else {
		fmt.Fprintln(w, "\nPASS")
	}
}

// nodeProc is one running "jmqx serve" on its "machine" ip, with the ports
// every machine uses.
type nodeProc struct {
	id, ip, bin, dir string
	ports            []int // admin, Raft, MQTT, gossip, link
	cmd              *exec.Cmd
	log              *tailBuffer
	exited           chan struct{} // closed once the process has been waited for
	stopping         atomic.Bool
	stopOnce         sync.Once
}

// addr returns the node's address with its k-th port.
func (x *nodeProc) addr(k int) string { return net.JoinHostPort(x.ip, fmt.Sprint(x.ports[k])) }

// start starts the node, joining the cluster through join's admin API when
// join is not empty.
func (x *nodeProc) start(join, logLevel string) error {
	args := []string{"serve", "--node-id", x.id, "--data-dir", filepath.Join(x.dir, "data"),
		"--admin-addr", x.addr(0), "--raft-addr", x.addr(1), "--mqtt-addr", x.addr(2), "--ws-addr=",
		"--gossip-addr", x.addr(3), "--cluster-addr", x.addr(4),
		"--bind-host", x.ip, "--advertise-host", x.ip, "--fixed-ports", "--log-level", logLevel}
	if join != "" {
		args = append(args, "--join", join)
	}
	x.cmd = exec.Command(x.bin, args...)
	x.cmd.Stdout, x.cmd.Stderr = x.log, x.log
	// Its own process group keeps a terminal's Ctrl-C away from it (this
	// program stops it); Pdeathsig kills it if this program dies first.
	x.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := x.cmd.Start(); err != nil {
		return fmt.Errorf("start jmqx serve %s: %w", x.id, err)
	}
	go func() {
		_ = x.cmd.Wait()
		close(x.exited)
	}()
	logf("node %s pid %d on %s", x.id, x.cmd.Process.Pid, x.ip)
	return nil
}

// waitReady polls the admin API's /readyz until it answers 200.
func (x *nodeProc) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	url := "http://" + x.addr(0) + "/readyz"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := x.pause(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("node %s not ready: %w", x.id, err)
		}
	}
}

// pause waits d, failing early when ctx ends or the node exits.
func (x *nodeProc) pause(ctx context.Context, d time.Duration) error {
	select {
	case <-x.exited:
		return fmt.Errorf("node %s exited: %v", x.id, x.cmd.ProcessState)
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// exitedEarly reports whether the node exited before stop was called.
func (x *nodeProc) exitedEarly() bool {
	select {
	case <-x.exited:
		return !x.stopping.Load()
	default:
		return false
	}
}

// stop sends SIGTERM to the node, then SIGKILL after 10 s, and waits.
func (x *nodeProc) stop() {
	x.stopOnce.Do(func() {
		if x.cmd == nil || x.cmd.Process == nil {
			return
		}
		x.stopping.Store(true)
		_ = x.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-x.exited:
		case <-time.After(10 * time.Second):
			logf("node %s still running 10 s after SIGTERM: SIGKILL", x.id)
			_ = x.cmd.Process.Kill()
			<-x.exited
		}
	})
}

// cli runs a jmqx client command against the node's admin API.
func (x *nodeProc) cli(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, x.bin, append(args, "--server", x.addr(0))...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("jmqx %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// memberView is the part of "jmqx cluster members --json" read here.
type memberView struct {
	ID      string `json:"id"`
	Healthy bool   `json:"healthy"`
	Link    string `json:"link"`
}

// waitMesh waits until every node lists every node healthy, with an up
// link to each other one.
func waitMesh(ctx context.Context, nodes []*nodeProc) error {
	for _, x := range nodes {
		for {
			err := meshed(ctx, x, len(nodes))
			if err == nil {
				break
			}
			if perr := x.pause(ctx, 200*time.Millisecond); perr != nil {
				return fmt.Errorf("cluster not meshed: %v (last: %v)", perr, err)
			}
		}
	}
	logf("cluster: every node has an up link to every other")
	return nil
}

func meshed(ctx context.Context, x *nodeProc, n int) error {
	out, err := x.cli(ctx, "cluster", "members", "--json")
	if err != nil {
		return err
	}
	var ms []memberView
	if err := json.Unmarshal(out, &ms); err != nil {
		return fmt.Errorf("cluster members via %s: %w", x.id, err)
	}
	if len(ms) != n {
		return fmt.Errorf("%s lists %d members", x.id, len(ms))
	}
	for _, m := range ms {
		if !m.Healthy || m.ID != x.id && m.Link != "up" {
			return fmt.Errorf("%s sees %+v", x.id, m)
		}
	}
	return nil
}

// tenantView is the part of "jmqx tenant show --json" read here.
type tenantView struct {
	Nodes []struct {
		Node      string            `json:"node"`
		Listeners map[string]string `json:"listeners"`
	} `json:"nodes"`
}

// createTenant creates the tenant "storm" through the first node (retrying
// while the control plane is not ready) and returns, once every node
// serves it, each node's MQTT address.
func createTenant(ctx context.Context, nodes []*nodeProc) (map[string]string, error) {
	x := nodes[0]
	create := []string{"tenant", "create", "storm", "--mqtt-port", "auto", "--ws-port", "off", "--allow-anonymous",
		"--max-connections=-1", "--max-connects-per-second=-1", "--json"}
	var last error
	for {
		_, err := x.cli(ctx, create...)
		if err == nil || strings.Contains(err.Error(), "exists") {
			var out []byte
			if out, err = x.cli(ctx, "tenant", "show", "storm", "--json"); err == nil {
				var v tenantView
				if err := json.Unmarshal(out, &v); err != nil {
					return nil, fmt.Errorf("tenant storm: %w", err)
				}
				addrs := map[string]string{}
				for _, n := range v.Nodes {
					if a := n.Listeners["mqtt"]; a != "" {
						addrs[n.Node] = a
					}
				}
				if len(addrs) == len(nodes) {
					return addrs, nil
				}
				err = fmt.Errorf("tenant storm: %d of %d nodes serve it", len(addrs), len(nodes))
			}
		}
		last = err
		if err := x.pause(ctx, 200*time.Millisecond); err != nil {
			return nil, fmt.Errorf("create tenant storm: %v (last: %v)", err, last)
		}
	}
}

// buildJMQX builds ./cmd/jmqx of the module in the working directory into
// dir and returns the binary's path.
func buildJMQX(ctx context.Context, dir string) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(gomod))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the jmqx module: run from its root, or give -jmqx")
	}
	bin := filepath.Join(dir, "jmqx")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/jmqx")
	cmd.Dir = filepath.Dir(mod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/jmqx: %w\n%s", err, out)
	}
	return bin, nil
}

// freePortsOnAll returns n distinct ports free, for TCP and UDP, on every
// one of ips (checked by binding each on all of them at once).
func freePortsOnAll(ips []string, n int) ([]int, error) {
	var ports []int
	for attempt := 0; len(ports) < n && attempt < 200; attempt++ {
		first, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			return nil, err
		}
		port := first.Addr().(*net.TCPAddr).Port
		var held []io.Closer
		held = append(held, first)
		ok := true
		for k, ip := range ips {
			addr := net.JoinHostPort(ip, fmt.Sprint(port))
			if k > 0 {
				l, err := net.Listen("tcp", addr)
				if err != nil {
					ok = false
					break
				}
				held = append(held, l)
			}
			u, err := net.ListenPacket("udp", addr)
			if err != nil {
				ok = false
				break
			}
			held = append(held, u)
		}
		for _, c := range held {
			_ = c.Close()
		}
		for _, p := range ports {
			ok = ok && p != port
		}
		if ok {
			ports = append(ports, port)
		}
	}
	if len(ports) < n {
		return nil, fmt.Errorf("found only %d ports free on all of %v", len(ports), ips)
	}
	return ports, nil
}

// tailBuffer keeps about the last max bytes written to it, so a chatty
// broker log cannot fill the memory.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max/2:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// logf prints a progress line on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s storm: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}
