// Command hostile is a hostile-client benchmark for the jmqx binary: it
// starts a real "jmqx serve", attacks its "default" tenant with misbehaving
// clients, and meanwhile measures how a well-behaved client pair on another
// tenant fares and how much memory the broker takes.
//
// Usage, from the module root:
//
//	go run ./integration/hostile [flags]
//	go run ./integration/hostile --duration 15s --bound-mib 1024
//	go run ./integration/hostile --memory-budget 256MiB
//	go run ./integration/hostile --flood-rate 0 --bigsubs-rate 0
//
// It builds ./cmd/jmqx into a temporary directory (or uses --jmqx), starts
// "jmqx serve" there on free loopback ports with its own --data-dir, waits
// for the admin API's /readyz, and creates the tenant "good" (anonymous, MQTT
// on an automatic port) and, for the password attack, the tenant "pw" with
// one user, and stores the retained messages of the "retained" attack
// (before the baseline, so the baseline's broker holds them too). Then:
//
//  1. Baseline: an MQTT 5 subscriber and publisher on "good" make QoS 1
//     round trips (publish, wait until the subscriber has the message) for
//     --baseline; p50 and p99 are recorded.
//  2. Attack: for --duration, the attacks below run together against the
//     "default" tenant while the round trips go on on "good".
//
// The attacks (select with --attacks; every socket is on 127.0.0.1, and the
// program never holds more than --max-sockets at once):
//
//	preconnect  500 sockets send a CONNECT header declaring ~1 MiB, then a
//	            trickle of 16 bytes a second; reconnect when closed.
//	slowloris   500 sockets send one byte of a CONNECT every 2 s.
//	retained    20 MQTT 3.1.1 subscribers to ret/# (QoS 1) that never
//	            read, where 50 retained 1,000,000-byte messages wait.
//	flood       5 QoS 1 publishers (3.1.1 and 5) of 10 KB to ret/flood
//	            (which the retained subscribers match) that never wait for a
//	            PUBACK; three read and drop their PUBACKs (counting any
//	            DISCONNECT's reason code), two never read. Each sends
//	            --flood-rate messages a second (default 500; 0: as fast
//	            as the socket takes them).
//	noack       an MQTT 5 subscriber to # with Receive Maximum 2 that reads
//	            everything and acknowledges nothing.
//	bigsubs     20 clients each subscribe 1,000 filters of 60 KB, 15 to a
//	            SUBSCRIBE, sending --bigsubs-rate SUBSCRIBEs a second
//	            (default 2; 0: back to back), then stay connected.
//	password    16 goroutines (no more: each holds one socket at a time)
//	            send CONNECTs with a wrong password to "pw".
//
// The default rates keep flood and bigsubs what the attacks are about, a
// publisher that never waits for its PUBACKs and subscriptions that cost
// bytes, instead of a bandwidth flood: this program shares the machine's
// cores with the broker, and unpaced (rate 0) they saturate them, so the
// good tenant's round trips measure the CPU, whatever the broker does.
//
// The broker's VmRSS is sampled every 250 ms from /proc (and VmHWM read at
// the end). If it passes --abort-rss-mib the attacks stop at once and the
// run fails. The report gives the attacks' rates, the peak RSS, the bound,
// the round-trip percentiles before and during the attack, their p99 ratio
// and what each attack saw. The exit status is 0 when the peak stays within
// the bound (if there is one) and no round trip failed or timed out, 1 when
// not, and 2 when the benchmark could not run.
//
// --memory-budget SIZE (bytes, with an optional KiB, MiB or GiB suffix) is
// passed to "jmqx serve --memory-budget" (the program refuses it if that
// binary's "serve --help" does not list the flag). The report then also
// gives the stated bound formula of the README's "Memory" section,
//
//	live heap ≤ budget + sockets_peak × 48 KiB + password checks × 64 MiB + 50 MiB
//	RSS       ≤ max(budget × 1.25 + 256 MiB, live heap bound × 1.1) + 30 MiB
//
// (budget × 1.25 + 256 MiB is the soft memory limit jmqx serve sets), where
// sockets_peak is the most sockets this program held open at once
// (attackers and the good pair) and password checks is the broker's
// default max_concurrent_password_checks, half its GOMAXPROCS (at least 1), taken to be this
// program's (the broker inherits its machine and environment: 2 on a
// 2-core machine); a budget of 0 is the broker's default, 2 GiB. When
// --bound-mib is 0 that formula is the bound the peak RSS is held to (the
// report says so); a --bound-mib above 0 takes precedence.
//
// On exit the broker gets SIGTERM (SIGKILL after 10 s; it also dies with this
// program through PR_SET_PDEATHSIG), every socket is closed and the temporary
// directory is removed. Interrupting with Ctrl-C ends the run early the same
// way.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/jmqx/jmqx/internal/bytesize"
	"github.com/jmqx/jmqx/tenant"
)

// config is what the flags say.
type config struct {
	duration       time.Duration
	baseline       time.Duration
	rttTimeout     time.Duration
	rttInterval    time.Duration
	startTimeout   time.Duration
	boundMiB       int
	abortRSSMiB    int
	memoryBudget   string // as given; "" when not
	budgetBytes    int64  // memoryBudget parsed, the broker's default for 0
	floodRate      float64
	bigSubsRate    float64
	jmqxBin        string
	attacks        []string
	maxSockets     int
	brokerLogLevel string
}

func parseFlags() (config, error) {
	var c config
	var attacks string
	flag.DurationVar(&c.duration, "duration", 60*time.Second, "how long the attacks run")
	flag.DurationVar(&c.baseline, "baseline", 10*time.Second, "how long the baseline round trips run, before the attacks")
	flag.DurationVar(&c.rttTimeout, "rtt-timeout", 5*time.Second, "a good round trip not done within `DURATION` counts as failed")
	flag.DurationVar(&c.rttInterval, "rtt-interval", 10*time.Millisecond, "pause between two good round trips (0: back to back)")
	flag.DurationVar(&c.startTimeout, "start-timeout", 30*time.Second, "how long the broker may take to become ready and create the tenants")
	flag.IntVar(&c.boundMiB, "bound-mib", 0, "stated bound on the broker's RSS in `MiB`; a higher peak fails the run (0: the stated bound formula with --memory-budget, else none)")
	flag.IntVar(&c.abortRSSMiB, "abort-rss-mib", 8192, "stop the attacks and fail when the broker's RSS passes `MiB`")
	flag.StringVar(&c.memoryBudget, "memory-budget", "", "pass --memory-budget `SIZE` (bytes, optional KiB/MiB/GiB suffix) to jmqx serve, and report the stated bound formula (only when set)")
	flag.Float64Var(&c.floodRate, "flood-rate", 500, "`N` messages a second per flood publisher (0: as fast as possible)")
	flag.Float64Var(&c.bigSubsRate, "bigsubs-rate", 2, "`N` SUBSCRIBE packets a second per bigsubs client (0: as fast as possible)")
	flag.StringVar(&c.jmqxBin, "jmqx", "", "use this jmqx `BINARY` instead of building ./cmd/jmqx")
	flag.StringVar(&attacks, "attacks", "all", "comma-separated `LIST` of attacks to run: "+strings.Join(attackNames(), ",")+", or all, or none")
	flag.IntVar(&c.maxSockets, "max-sockets", 3000, "most sockets this program holds open at once")
	flag.StringVar(&c.brokerLogLevel, "broker-log-level", "warn", "jmqx serve --log-level (its log goes to a bounded buffer, shown if it fails)")
	flag.Parse()
	if flag.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if c.duration <= 0 || c.baseline <= 0 || c.rttTimeout <= 0 || c.rttInterval < 0 || c.startTimeout <= 0 {
		return c, errors.New("durations must be positive")
	}
	if c.maxSockets < 1 || c.maxSockets > 3000 {
		return c, fmt.Errorf("--max-sockets %d: want 1 to 3000", c.maxSockets)
	}
	if c.floodRate < 0 || c.bigSubsRate < 0 || math.IsNaN(c.floodRate) || math.IsNaN(c.bigSubsRate) {
		return c, errors.New("--flood-rate and --bigsubs-rate must not be negative (0: as fast as possible)")
	}
	if c.memoryBudget != "" {
		n, err := bytesize.Parse(c.memoryBudget)
		if err != nil {
			return c, fmt.Errorf("--memory-budget %q: %w", c.memoryBudget, err)
		}
		if n == 0 {
			n = tenant.DefaultMemoryBudget
		}
		c.budgetBytes = n
	}
	var err error
	c.attacks, err = selectAttacks(attacks)
	return c, err
}

func main() {
	os.Exit(run())
}

// run runs the benchmark and returns the exit status.
func run() int {
	cfg, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := bench(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		return 2
	}
	r.print(os.Stdout)
	if len(r.failures()) > 0 {
		return 1
	}
	return 0
}

// bench sets everything up, runs both phases and tears everything down; the
// deferred calls run in reverse order, so the sockets close before the
// broker stops and the broker stops before its directory goes.
func bench(ctx context.Context, cfg config) (*report, error) {
	dir, err := os.MkdirTemp("", "jmqx-hostile-")
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
	b, err := startBroker(ctx, bin, dir, cfg)
	if err != nil {
		return nil, err
	}
	defer b.stop()
	logf("broker pid %d: default tenant on %s, admin API on %s", b.pid(), b.mqttAddr, b.adminAddr)

	setupCtx, cancelSetup := context.WithTimeout(ctx, cfg.startTimeout)
	defer cancelSetup()
	goodAddr, err := b.createTenant(setupCtx, "good", true)
	if err != nil {
		return nil, err
	}
	env := &attackEnv{defaultAddr: b.mqttAddr, sockets: &socketBudget{max: int64(cfg.maxSockets)},
		floodRate: cfg.floodRate, bigSubsRate: cfg.bigSubsRate}
	if hasAttack(cfg.attacks, "password") {
		if env.pwAddr, err = b.createTenant(setupCtx, "pw", false); err != nil {
			return nil, err
		}
		if err := b.addUser(setupCtx, "pw", pwUser, pwPassword); err != nil {
			return nil, err
		}
	}
	logf("tenant good on %s", goodAddr)

	rss, err := startRSSSampler(b.pid(), 250*time.Millisecond, int64(cfg.abortRSSMiB)<<10)
	if err != nil {
		return nil, err
	}
	defer rss.stop()

	probe, err := newProber(setupCtx, goodAddr, env.sockets, cfg.rttTimeout)
	if err != nil {
		return nil, fmt.Errorf("good tenant: %w", err)
	}
	defer probe.close()
	cancelSetup()

	set := newAttackSet(env, cfg.attacks)
	prepCtx, cancelPrep := context.WithTimeout(ctx, 2*time.Minute)
	err = set.prepare(prepCtx)
	cancelPrep()
	if err != nil {
		return nil, err
	}

	r := &report{cfg: cfg, defaultAddr: b.mqttAddr, goodAddr: goodAddr, pwChecks: max(1, runtime.GOMAXPROCS(0)/2)}
	logf("baseline: good round trips for %s", cfg.baseline)
	baseCtx, cancelBase := phaseContext(ctx, cfg.baseline, rss, b)
	r.baseline = probe.measure(baseCtx, cfg.rttInterval)
	cancelBase()
	r.rssBeforeKiB = rss.current()

	logf("attack: %s for %s", strings.Join(cfg.attacks, ", "), cfg.duration)
	attackCtx, cancelAttack := phaseContext(ctx, cfg.duration, rss, b)
	start := time.Now()
	set.start(attackCtx)
	r.attack = probe.measure(attackCtx, cfg.rttInterval)
	cancelAttack()
	r.attacks = set.wait()
	r.attackRan = time.Since(start).Round(time.Millisecond)
	r.peakSockets = env.sockets.peak.Load()

	r.peakRSSKiB, r.hwmKiB = rss.stop()
	r.aborted = rss.exceeded()
	r.brokerDied = b.exitedEarly()
	r.interrupted = ctx.Err() != nil
	return r, nil
}

// phaseContext returns a context that ends after d, or earlier when the
// broker's RSS passes the abort line or the broker exits.
func phaseContext(ctx context.Context, d time.Duration, rss *rssSampler, b *brokerProc) (context.Context, context.CancelFunc) {
	pctx, cancel := context.WithTimeout(ctx, d)
	go func() {
		select {
		case <-pctx.Done():
		case <-rss.abort:
			logf("broker RSS passed the abort line: stopping")
			cancel()
		case <-b.exited:
			logf("broker exited: stopping")
			cancel()
		}
	}()
	return pctx, cancel
}

// logf prints a progress line on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s hostile: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}
