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
//     (clean start, or with -persistent a session that outlives the
//     connection; MQTT -version; waiting for the CONNACK) and subscribe at
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
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
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
	persistent   bool
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
	flag.BoolVar(&c.persistent, "persistent", false, "clients keep a persistent session (no clean start; MQTT 5: Session Expiry 1 h): each CONNECT claims its client id across the cluster")
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
