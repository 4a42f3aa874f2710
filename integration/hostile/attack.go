package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// attack is one kind of hostile traffic. prepare, if set, stores what the
// attack needs in the broker before the baseline. run starts its workers
// with env.wg.Go and returns; every worker ends once ctx is done.
type attack struct {
	name    string
	prepare func(ctx context.Context, env *attackEnv, st *attackStats) error
	run     func(ctx context.Context, env *attackEnv, st *attackStats)
}

// attacks lists every attack in the order they start and are reported.
var attacks = []attack{
	{name: "preconnect", run: runPreconnect},
	{name: "slowloris", run: runSlowloris},
	{name: "retained", prepare: seedRetained, run: runRetained},
	{name: "flood", run: runFlood},
	{name: "noack", run: runNoAck},
	{name: "bigsubs", run: runBigSubs},
	{name: "password", run: runPassword},
}

func attackNames() []string {
	names := make([]string, len(attacks))
	for i, a := range attacks {
		names[i] = a.name
	}
	return names
}

// selectAttacks parses the --attacks list.
func selectAttacks(list string) ([]string, error) {
	switch list {
	case "all":
		return attackNames(), nil
	case "none", "":
		return nil, nil
	}
	var out []string
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if !slices.Contains(attackNames(), n) {
			return nil, fmt.Errorf("--attacks: unknown attack %q (known: %s)", n, strings.Join(attackNames(), ", "))
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func hasAttack(names []string, name string) bool { return slices.Contains(names, name) }

// attackEnv is what the attacks share: where to connect, the socket
// budget, and the wait group of every goroutine they start.
type attackEnv struct {
	defaultAddr string // the default tenant (anonymous)
	pwAddr      string // the tenant "pw" (user pwUser), when created
	sockets     *socketBudget
	floodRate   float64 // PUBLISHes a second per flood publisher; 0: unpaced
	bigSubsRate float64 // SUBSCRIBEs a second per bigsubs client; 0: unpaced
	wg          sync.WaitGroup
}

// pacer is a limiter of perSecond events with no burst beyond one (time
// spent blocked in a write is not made up for later), or nil for 0: no
// pacing.
func pacer(perSecond float64) *rate.Limiter {
	if perSecond <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(perSecond), 1)
}

// pace waits for l's next event, if l is not nil; it fails once ctx is done.
func pace(ctx context.Context, l *rate.Limiter) error {
	if l == nil {
		return ctx.Err()
	}
	return l.Wait(ctx)
}

// attackSet is the attacks of one run.
type attackSet struct {
	env     *attackEnv
	attacks []attack
	stats   []*attackStats
}

// newAttackSet selects the named attacks.
func newAttackSet(env *attackEnv, names []string) *attackSet {
	s := &attackSet{env: env}
	for _, a := range attacks {
		if hasAttack(names, a.name) {
			s.attacks = append(s.attacks, a)
			s.stats = append(s.stats, &attackStats{name: a.name, codes: map[string]int64{}})
		}
	}
	return s
}

// prepare runs the attacks' preparations, one after the other.
func (s *attackSet) prepare(ctx context.Context) error {
	for i, a := range s.attacks {
		if a.prepare == nil {
			continue
		}
		if err := a.prepare(ctx, s.env, s.stats[i]); err != nil {
			return fmt.Errorf("prepare %s: %w", a.name, err)
		}
	}
	return nil
}

// start starts the attacks; they run until ctx is done.
func (s *attackSet) start(ctx context.Context) {
	for i, a := range s.attacks {
		s.env.wg.Go(func() { a.run(ctx, s.env, s.stats[i]) })
	}
}

// wait waits for every attack goroutine to end and returns the statistics.
func (s *attackSet) wait() []*attackStats {
	s.env.wg.Wait()
	return s.stats
}

// attackStats counts what one attack did and what the broker answered.
type attackStats struct {
	name     string
	conns    atomic.Int64 // connections opened
	dialErrs atomic.Int64
	dropped  atomic.Int64 // connections that ended before the attack did
	packets  atomic.Int64 // packets sent (PUBLISH, SUBSCRIBE, CONNECT...) or received, per attack
	bytesOut atomic.Int64
	bytesIn  atomic.Int64

	mu    sync.Mutex
	codes map[string]int64 // e.g. "connack 0x86" -> count
}

// count records one answer of the broker, such as a CONNACK reason code.
func (s *attackStats) count(what string) {
	s.mu.Lock()
	s.codes[what]++
	s.mu.Unlock()
}

// notes returns the recorded answers, sorted.
func (s *attackStats) notes() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for k, v := range s.codes {
		parts = append(parts, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// write writes b, counting the bytes.
func (s *attackStats) write(c net.Conn, b []byte) error {
	n, err := c.Write(b)
	s.bytesOut.Add(int64(n))
	return err
}

// errAgain ends a session that did what it came for: the next one starts
// at once and the connection does not count as dropped.
var errAgain = errors.New("again")

// session is one connection's life; it returns when the connection fails
// or ctx is done (the connection is then closed under it).
type session func(ctx context.Context, c *budgetConn) error

// reconnect runs s on fresh connections to addr until ctx is done. A
// session that ends early counts as dropped, and the next dial waits 100 ms,
// or 1 s when the connection lasted less than a second (so that a broker
// refusing at once is not hammered, and ephemeral ports last).
func (e *attackEnv) reconnect(ctx context.Context, addr string, st *attackStats, s session) {
	for ctx.Err() == nil {
		c, err := e.sockets.dial(ctx, addr)
		if err != nil {
			if ctx.Err() == nil {
				st.dialErrs.Add(1)
				sleep(ctx, time.Second)
			}
			continue
		}
		st.conns.Add(1)
		start := time.Now()
		stop := context.AfterFunc(ctx, c.abort)
		err = s(ctx, c)
		stop()
		c.abort()
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errAgain):
		case time.Since(start) < time.Second:
			st.dropped.Add(1)
			sleep(ctx, time.Second)
		default:
			st.dropped.Add(1)
			sleep(ctx, 100*time.Millisecond)
		}
	}
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// isTimeout reports whether err is a deadline expiry.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// socketBudget caps the sockets this program holds open at once.
type socketBudget struct {
	max  int64
	open atomic.Int64
	peak atomic.Int64
}

var errNoSockets = errors.New("socket budget exhausted")

// dial connects to addr if the budget allows one more socket.
func (s *socketBudget) dial(ctx context.Context, addr string) (*budgetConn, error) {
	n := s.open.Add(1)
	if n > s.max {
		s.open.Add(-1)
		return nil, errNoSockets
	}
	for p := s.peak.Load(); n > p; p = s.peak.Load() {
		if s.peak.CompareAndSwap(p, n) {
			break
		}
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		s.open.Add(-1)
		return nil, err
	}
	return &budgetConn{Conn: c, budget: s}, nil
}

// budgetConn gives its socket back to the budget when closed.
type budgetConn struct {
	net.Conn
	budget *socketBudget
	once   sync.Once
}

// Close closes the connection.
func (c *budgetConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.budget.open.Add(-1) })
	return err
}

// abort closes the connection with a reset, leaving no TIME_WAIT behind.
func (c *budgetConn) abort() {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
