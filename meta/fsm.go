package meta

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"
)

// FSM is the Raft state machine over State. Raft calls Apply, Snapshot and
// Restore from one goroutine; State, Watch, Err and Stopped may be called
// concurrently from any goroutine.
//
// Apply only applies: it never re-runs this release's validation on what
// the log committed (Store.Apply validates before proposing), and refuses
// only by the rules of the command's own version, which never change. An
// entry it cannot apply exactly as written stops it (StoppedError).
type FSM struct {
	log      *zap.Logger
	handlers map[CommandType]handler

	mu    sync.Mutex // serializes Apply and Restore, the writers of state and stopped
	state atomic.Pointer[State]

	stopped   atomic.Pointer[StoppedError]
	stoppedCh chan struct{} // closed when stopped is set

	watchMu  sync.Mutex
	watchers map[uint64]chan struct{}
	nextID   uint64
}

var _ raft.FSM = (*FSM)(nil)

// handler decodes and applies one command type. decode returns the
// payload or why it cannot be applied as written (wrapping
// ErrNewerVersion or errCorrupt); apply returns the next state (a new
// value, never cur itself) or a business refusal. index is the entry's
// Raft index, the revision of the tenants it writes.
type handler struct {
	decode func(data []byte) (command, error)
	apply  func(cur *State, payload command, index uint64) (*State, error)
}

// handlerFor builds the handler of a payload type T whose versions are 1
// to maxVersion.
func handlerFor[T command](maxVersion int, apply func(cur *State, p T, index uint64) (*State, error)) handler {
	return handler{
		decode: func(data []byte) (command, error) { return decodePayload[T](data, maxVersion) },
		apply:  func(cur *State, p command, index uint64) (*State, error) { return apply(cur, p.(T), index) },
	}
}

// NewFSM returns an FSM holding an empty State. log may be nil.
func NewFSM(log *zap.Logger) *FSM {
	if log == nil {
		log = zap.NewNop()
	}
	f := &FSM{
		log: log,
		handlers: map[CommandType]handler{
			CmdPutTenant:    handlerFor(PayloadVersionCAS, applyPutTenant),
			CmdDeleteTenant: handlerFor(PayloadVersionCAS, applyDeleteTenant),
			CmdPutUser:      handlerFor(PayloadVersionCAS, applyPutUser),
			CmdRemoveUser:   handlerFor(PayloadVersionCAS, applyRemoveUser),
			CmdPutACL:       handlerFor(PayloadVersionCAS, applyPutACL),
			CmdPutMember:    handlerFor(PayloadVersion, applyPutMember),
			CmdRemoveMember: handlerFor(PayloadVersion, applyRemoveMember),
			CmdRecordBound:  handlerFor(PayloadVersion, applyRecordBound),
			CmdSetDrain:     handlerFor(PayloadVersion, applySetDrain),
		},
		stoppedCh: make(chan struct{}),
		watchers:  map[uint64]chan struct{}{},
	}
	f.state.Store(emptyState())
	return f
}

// State returns the current state. It does not block on Apply and the
// result never changes; see State for the rules on reading it.
func (f *FSM) State() State { return *f.state.Load() }

// Err returns the *StoppedError with which the FSM stopped applying the
// log, or nil while it applies. Once set it never changes.
func (f *FSM) Err() error {
	if e := f.stopped.Load(); e != nil {
		return e
	}
	return nil
}

// Stopped returns a channel closed when the FSM stops (Err is then set).
func (f *FSM) Stopped() <-chan struct{} { return f.stoppedCh }

// Watch returns a channel that receives a value after every applied change
// and after every Restore, and a function that unregisters it. Signals
// coalesce (the channel has a buffer of one and is never blocked on), so a
// consumer re-reads State and reconciles fully on each one. The channel is
// not closed by cancel.
func (f *FSM) Watch() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	f.watchMu.Lock()
	id := f.nextID
	f.nextID++
	f.watchers[id] = ch
	f.watchMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			f.watchMu.Lock()
			delete(f.watchers, id)
			f.watchMu.Unlock()
		})
	}
}

// Apply applies one Raft log entry. It returns nil when the command was
// applied (or ignored: an unknown type with FlagIgnorable), or an error
// wrapping ErrNotFound, ErrExists, ErrInvalid or ErrChanged when a rule of
// the command's version refuses it, leaving State unchanged. When the
// entry cannot be applied as written (empty, an unknown type without
// FlagIgnorable, a payload version this node does not know, an unknown
// field, a payload that does not decode), the FSM stops: Apply returns the
// *StoppedError, and returns it again for every later entry without
// applying it. Apply never panics, reads no clock, uses no randomness and
// never depends on map order.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	if e := f.stopped.Load(); e != nil {
		return e
	}
	var t CommandType
	if len(l.Data) > 0 {
		t = CommandType(l.Data[0])
	}
	h, payload, err := f.decode(l.Data)
	if err != nil {
		return f.stop(&StoppedError{Index: l.Index, Type: t, Err: err})
	}
	if payload == nil { // ignorable
		f.log.Debug("ignoring unknown command", zap.Stringer("type", t), zap.Uint64("index", l.Index))
		return nil
	}

	f.mu.Lock()
	next, err := h.apply(f.state.Load(), payload, l.Index)
	if err != nil {
		f.mu.Unlock()
		f.log.Debug("command refused", zap.Stringer("type", t), zap.Uint64("index", l.Index), zap.Error(err))
		return err
	}
	next.Index = l.Index
	f.state.Store(next)
	f.mu.Unlock()
	f.notify()
	return nil
}

// decode finds an entry's handler and decodes its payload. It returns a
// nil payload and no error for an unknown ignorable type, and an error
// wrapping ErrNewerVersion or errCorrupt for an entry it cannot apply.
func (f *FSM) decode(data []byte) (handler, command, error) {
	if len(data) == 0 {
		return handler{}, nil, errCorrupt
	}
	t := CommandType(data[0])
	h, ok := f.handlers[t]
	if !ok {
		if t&FlagIgnorable != 0 {
			return handler{}, nil, nil
		}
		return handler{}, nil, fmt.Errorf("unknown command type: %w", ErrNewerVersion)
	}
	p, err := h.decode(data[1:])
	if err != nil {
		return handler{}, nil, err
	}
	return h, p, nil
}

// stop records e as the reason the FSM stopped, unless it already
// stopped, and returns the recorded error.
func (f *FSM) stop(e *StoppedError) error {
	if !f.stopped.CompareAndSwap(nil, e) {
		return f.stopped.Load()
	}
	close(f.stoppedCh)
	f.log.Error("control plane stopped: this node cannot apply the replicated log any further", zap.Error(e))
	return e
}

// notify signals every watcher without blocking.
func (f *FSM) notify() {
	f.watchMu.Lock()
	defer f.watchMu.Unlock()
	for _, ch := range f.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
