package meta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/jmqx/jmqx/internal/hclogzap"
)

// DefaultApplyTimeout bounds Store.Apply, Join, AddVoter, RemoveServer
// and Barrier when their context has no deadline.
const DefaultApplyTimeout = 10 * time.Second

// Storage tuning.
const (
	logCacheSize   = 512             // recent log entries kept in memory
	snapshotRetain = 2               // snapshots kept in Dir
	boltTimeout    = 5 * time.Second // waiting for another process's lock on raft.db
)

// Errors of Store operations besides the FSM's business refusals.
var (
	// ErrNotLeader is matched (errors.Is) by every *NotLeaderError.
	ErrNotLeader = errors.New("meta: not the leader")
	// ErrLeadershipLost: this node stopped leading before the command
	// committed; it may or may not be applied, so retry idempotently.
	ErrLeadershipLost = errors.New("meta: leadership lost; outcome unknown")
	// ErrShutdown: the store is shut down.
	ErrShutdown = errors.New("meta: shut down")
)

// NotLeaderError is returned by writes on a node that is not the leader.
// It names the leader, if one is known, so the caller can forward.
type NotLeaderError struct {
	LeaderID   string // empty if no leader is known
	LeaderAddr string // the leader's Raft address
}

// Error names the leader.
func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return "meta: not the leader; no leader known"
	}
	return fmt.Sprintf("meta: not the leader; leader is %s at %s", e.LeaderID, e.LeaderAddr)
}

// Is reports whether target is ErrNotLeader.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// Server is one server of the Raft configuration.
type Server struct {
	ID    string `json:"id"`
	Addr  string `json:"addr"`
	Voter bool   `json:"voter"`
	// Role is "leader", "follower" or "candidate" for this node (its own
	// view), and "leader", "follower" or "nonvoter" for the others.
	Role string `json:"role"`
}

// Option configures Open with a collaborator.
type Option func(*options)

type options struct {
	log *zap.Logger
}

// WithLogger sets the logger; Open names it "meta". Default: no logging.
func WithLogger(l *zap.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// Store is one node of the control plane: Raft with the FSM, its storage
// and its transport. It is safe for concurrent use.
type Store struct {
	cfg      Config
	log      *zap.Logger
	fsm      *FSM
	raft     *raft.Raft
	trans    raft.Transport
	progress *progressBook // peers' answers to this node's RPCs as leader
	closers  []io.Closer   // closed after raft shuts down, in order

	// memberMu serializes Join and the leader's membership passes, the
	// writers of the Raft configuration and member records; the map
	// belongs to the membership loop.
	memberMu  sync.Mutex
	nonvoters map[raft.ServerID]nonvoterSeen

	done     chan struct{} // closed by Shutdown
	loopDone chan struct{} // closed when the membership loop ends

	shutdownOnce sync.Once
	shutdownErr  error
}

// deps are the storage and transport a Store runs on: raft-boltdb and TCP
// from Open, in-memory ones in tests.
type deps struct {
	fsm     *FSM // nil: a new one; tests set it to inject faults
	logs    raft.LogStore
	stable  raft.StableStore
	snaps   raft.SnapshotStore
	trans   transport
	closers []io.Closer
}

// Open starts a node: it opens (or creates) the Raft data in cfg.Dir,
// listens on cfg.BindAddr, bootstraps a single-voter group if cfg.Bootstrap
// is set and there is no Raft state yet, and starts Raft. Every log entry
// is fsynced to raft.db before Raft acknowledges it, so a write Apply
// acknowledged survives kill -9. Open does not wait for a leader; see
// WaitLeader.
func Open(cfg Config, opts ...Option) (*Store, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{log: zap.NewNop()}
	for _, opt := range opts {
		opt(&o)
	}
	log := o.log.Named("meta").With(zap.String("node", cfg.NodeID))
	hlog := hclogzap.New(log.Named("raft"))

	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("meta: data dir: %w", err)
	}
	// NoSync stays false: raft-boltdb fsyncs every append before returning.
	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(cfg.Dir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: boltTimeout},
	})
	if err != nil {
		return nil, fmt.Errorf("meta: open %s: %w", filepath.Join(cfg.Dir, "raft.db"), err)
	}
	logs, err := raft.NewLogCache(logCacheSize, bolt)
	if err != nil {
		bolt.Close()
		return nil, fmt.Errorf("meta: log cache: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, snapshotRetain, hlog)
	if err != nil {
		bolt.Close()
		return nil, fmt.Errorf("meta: snapshot store: %w", err)
	}
	stream, err := newStreamLayer(cfg)
	if err != nil {
		bolt.Close()
		return nil, err
	}
	trans := raft.NewNetworkTransportWithLogger(stream, transportMaxPool, transportTimeout, hlog)
	return newStore(cfg, log, deps{
		logs: logs, stable: bolt, snaps: snaps, trans: trans,
		closers: []io.Closer{trans, bolt},
	})
}

// newStore starts Raft on d; cfg has its defaults applied. On error it
// closes d.closers.
func newStore(cfg Config, log *zap.Logger, d deps) (*Store, error) {
	fsm := d.fsm
	if fsm == nil {
		fsm = NewFSM(log)
	}
	s := &Store{
		cfg: cfg, log: log, fsm: fsm, trans: d.trans, progress: newProgressBook(), closers: d.closers,
		nonvoters: map[raft.ServerID]nonvoterSeen{}, done: make(chan struct{}), loopDone: make(chan struct{}),
	}
	rc := cfg.raftConfig()
	rc.Logger = hclogzap.New(log.Named("raft"))
	if cfg.Bootstrap {
		has, err := raft.HasExistingState(d.logs, d.stable, d.snaps)
		if err != nil {
			s.closeAll()
			return nil, fmt.Errorf("meta: read raft state: %w", err)
		}
		if !has {
			self := raft.Server{Suffrage: raft.Voter, ID: rc.LocalID, Address: d.trans.LocalAddr()}
			err := raft.BootstrapCluster(rc, d.logs, d.stable, d.snaps, d.trans, raft.Configuration{Servers: []raft.Server{self}})
			if err != nil {
				s.closeAll()
				return nil, fmt.Errorf("meta: bootstrap: %w", err)
			}
			log.Info("bootstrapped a single-voter raft group", zap.String("raft_addr", string(self.Address)))
		}
	}
	trans := &observedTransport{transport: d.trans, book: s.progress}
	r, err := raft.NewRaft(rc, s.fsm, d.logs, d.stable, d.snaps, trans)
	if err != nil {
		s.closeAll()
		return nil, fmt.Errorf("meta: start raft: %w", err)
	}
	s.raft = r
	go s.membershipLoop()
	log.Info("raft started", zap.String("raft_addr", s.RaftAddr()))
	return s, nil
}

// ID returns this node's Raft server ID.
func (s *Store) ID() string { return s.cfg.NodeID }

// RaftAddr returns this node's advertised Raft address (with the port
// actually bound when BindAddr has port 0).
func (s *Store) RaftAddr() string { return string(s.trans.LocalAddr()) }

// State returns the current replicated state as applied on this node.
func (s *Store) State() State { return s.fsm.State() }

// Watch registers for change notifications; see FSM.Watch.
func (s *Store) Watch() (<-chan struct{}, func()) { return s.fsm.Watch() }

// Err returns the *StoppedError with which this node's FSM stopped
// applying the log (this node runs an older jmqx than the cluster, or the
// log is corrupt), or nil. Once set the node serves a frozen state and
// refuses writes: shut it down, and upgrade or repair it.
func (s *Store) Err() error { return s.fsm.Err() }

// Stopped returns a channel closed when this node's FSM stops; Err then
// says why.
func (s *Store) Stopped() <-chan struct{} { return s.fsm.Stopped() }

// IsLeader reports whether this node is the leader.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// Leader returns the leader's ID and Raft address, or empty strings when
// no leader is known.
func (s *Store) Leader() (id, raftAddr string) {
	addr, lid := s.raft.LeaderWithID()
	return string(lid), string(addr)
}

// Apply encodes a command, validates it on the leader with this
// release's rules against the current state (ErrInvalid, or the refusal
// the FSM would return), commits it through Raft and returns the FSM's verdict: nil, or
// a business refusal (ErrNotFound, ErrExists, ErrInvalid, ErrChanged). On
// a follower it returns a *NotLeaderError. When leadership is lost mid-way
// it returns ErrLeadershipLost, and when ctx ends first ctx's error: in
// both cases the command may or may not be applied. On a node whose FSM
// stopped it returns the *StoppedError. ctx without a deadline gets
// DefaultApplyTimeout. Blocks until committed and applied here.
func (s *Store) Apply(ctx context.Context, t CommandType, payload any) error {
	data, err := Encode(t, payload)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if !s.IsLeader() {
		return s.notLeader()
	}
	if err := s.fsm.check(data); err != nil {
		return err
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	fut := s.raft.Apply(data, timeoutOf(ctx))
	if err := wait(ctx, fut); err != nil {
		return s.raftError("apply "+t.String(), err)
	}
	if err, ok := fut.Response().(error); ok && err != nil {
		return err
	}
	return nil
}

// Servers returns the Raft configuration, sorted by ID, with each
// server's role as this node sees it.
func (s *Store) Servers() ([]Server, error) {
	fut := s.raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return nil, s.raftError("get configuration", err)
	}
	_, leader := s.raft.LeaderWithID()
	self := raft.ServerID(s.cfg.NodeID)
	var out []Server
	for _, srv := range fut.Configuration().Servers {
		role := "follower"
		switch {
		case srv.ID == self:
			role = strings.ToLower(s.raft.State().String())
		case srv.ID == leader:
			role = "leader"
		case srv.Suffrage != raft.Voter:
			role = "nonvoter"
		}
		out = append(out, Server{ID: string(srv.ID), Addr: string(srv.Address), Voter: srv.Suffrage == raft.Voter, Role: role})
	}
	slices.SortFunc(out, func(a, b Server) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// AddVoter adds the node id at raftAddr as a voter straight away. Only
// the leader may (*NotLeaderError otherwise). It succeeds at once when id
// is already a voter at raftAddr; a known id with another address is
// updated. It blocks until the configuration change commits. A node that
// asks to join goes through Join instead, which adds it as a non-voter and
// lets the leader promote it once it has caught up: a voter that never
// answers costs the cluster its quorum.
func (s *Store) AddVoter(ctx context.Context, id, raftAddr string) error {
	if id == "" || raftAddr == "" {
		return fmt.Errorf("%w: add voter: id and raft address are required", ErrInvalid)
	}
	if !s.IsLeader() {
		return s.notLeader()
	}
	servers, err := s.Servers()
	if err != nil {
		return err
	}
	if slices.ContainsFunc(servers, func(srv Server) bool { return srv.ID == id && srv.Addr == raftAddr && srv.Voter }) {
		return nil
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	fut := s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, timeoutOf(ctx))
	if err := wait(ctx, fut); err != nil {
		return s.raftError(fmt.Sprintf("add voter %s at %s", id, raftAddr), err)
	}
	s.log.Info("added voter", zap.String("id", id), zap.String("raft_addr", raftAddr))
	return nil
}

// RemoveServer removes the node id from the Raft configuration. Only the
// leader may (*NotLeaderError otherwise); removing an unknown id succeeds.
// It blocks until the configuration change commits.
func (s *Store) RemoveServer(ctx context.Context, id string) error {
	if !s.IsLeader() {
		return s.notLeader()
	}
	servers, err := s.Servers()
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(servers, func(srv Server) bool { return srv.ID == id }) {
		return nil
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	fut := s.raft.RemoveServer(raft.ServerID(id), 0, timeoutOf(ctx))
	if err := wait(ctx, fut); err != nil {
		return s.raftError("remove server "+id, err)
	}
	s.log.Info("removed server", zap.String("id", id))
	return nil
}

// WaitLeader blocks until some node is known as the leader, or ctx ends.
func (s *Store) WaitLeader(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if id, _ := s.Leader(); id != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("meta: wait for leader: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// Barrier blocks until every entry committed before it is applied to this
// node's FSM. Only the leader may (*NotLeaderError otherwise).
func (s *Store) Barrier(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	if err := wait(ctx, s.raft.Barrier(timeoutOf(ctx))); err != nil {
		return s.raftError("barrier", err)
	}
	return nil
}

// Snapshot takes a snapshot now and compacts the log down to TrailingLogs
// entries. Blocks until done.
func (s *Store) Snapshot() error {
	if err := s.raft.Snapshot().Error(); err != nil {
		return s.raftError("snapshot", err)
	}
	return nil
}

// Shutdown stops Raft and closes the transport and the stores. It is safe
// to call more than once; later calls return the first result.
func (s *Store) Shutdown() error {
	s.shutdownOnce.Do(func() {
		close(s.done)
		var errs []error
		if err := s.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("raft: %w", err))
		}
		<-s.loopDone // unblocked by raft's shutdown if in a raft call
		// Close the pooled outgoing connections too (NetworkTransport.Close
		// leaves them open), so that the peers' handlers of them end.
		if nt, ok := s.trans.(*raft.NetworkTransport); ok {
			nt.CloseStreams()
		}
		errs = append(errs, s.closeAll())
		s.shutdownErr = errors.Join(errs...)
		if s.shutdownErr != nil {
			s.shutdownErr = fmt.Errorf("meta: shutdown: %w", s.shutdownErr)
		}
		s.log.Info("raft shut down")
	})
	return s.shutdownErr
}

// closeAll closes the transport and stores.
func (s *Store) closeAll() error {
	var errs []error
	for _, c := range s.closers {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// notLeader returns a *NotLeaderError naming the current leader.
func (s *Store) notLeader() error {
	id, addr := s.Leader()
	return &NotLeaderError{LeaderID: id, LeaderAddr: addr}
}

// raftError maps raft's errors to this package's.
func (s *Store) raftError(op string, err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return s.notLeader()
	case errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("meta: %s: %w", op, ErrLeadershipLost)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("meta: %s: %w", op, ErrShutdown)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("meta: %s: %w: %w", op, context.DeadlineExceeded, err)
	}
	return fmt.Errorf("meta: %s: %w", op, err)
}

// wait waits for fut, or for ctx to end first.
func wait(ctx context.Context, fut raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- fut.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w (the outcome is unknown)", ctx.Err())
	}
}

// withDefaultTimeout gives ctx DefaultApplyTimeout if it has no deadline.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultApplyTimeout)
}

// timeoutOf returns the time left until ctx's deadline, at least 1ms.
func timeoutOf(ctx context.Context) time.Duration {
	d, _ := ctx.Deadline()
	return max(time.Until(d), time.Millisecond)
}
