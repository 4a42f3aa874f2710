package broker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Persistence (WithStore). Whatever changes a persistent session (one with
// a Session Expiry Interval, or a 3.x clean session false) or the retained
// store marks it dirty; the persister's goroutine takes the dirty set,
// snapshots each session whole (SessionState) and each retained topic,
// and writes them in one Store.Write: a batch every StoreInterval, or at
// once when an acknowledgement waits for it (StoreSync), so that every
// publisher waiting at the same time shares one write (group commit).
// Nothing is written on the publish path: a delivery only marks its
// session, under the session lock it already holds.

// heartbeatEvery is how often a store holding sessions saved as online is
// written to when nothing else changes: how far a crash's time can be
// from the last write that StoreContents.Alive records.
const heartbeatEvery = 10 * time.Second

// storeCloseWait is the least Shutdown waits for the last Store write.
const storeCloseWait = 10 * time.Second

// storeRetryLog bounds how often a failing Store.Write is logged.
const storeRetryLog = 10 * time.Second

// persister writes a broker's changes to its Store.
type persister struct {
	b  *Broker
	st Store

	mu       sync.Mutex // a leaf: taken under session.mu (locks.go)
	sessions map[*session]struct{}
	topics   map[string]struct{}
	gen      uint64        // the generation the marks go into
	waiters  []durableWait // acknowledgements waiting for a generation
	wake     chan struct{} // a waiter wants a write now
	quit     chan struct{}
	done     chan struct{}

	// heartbeat is heartbeatEvery (shorter in tests).
	heartbeat time.Duration

	// Owned by the persister's goroutine.
	online    map[*session]struct{} // stored as online
	lastWrite time.Time
	lastErr   time.Time
	failing   bool
}

// durableWait is an acknowledgement waiting until generation gen is
// written; fail, when set, is told of a failed write instead of waiting
// for the next one.
type durableWait struct {
	gen  uint64
	w    ForwardWaiter
	fail chan<- error
}

func newPersister(b *Broker, st Store) *persister {
	return &persister{b: b, st: st, sessions: make(map[*session]struct{}), topics: make(map[string]struct{}),
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		online: make(map[*session]struct{}), heartbeat: heartbeatEvery}
}

// changed records that s's stored form is out of date and reports whether
// s is kept in the store at all (an in-process session, or one that ends
// with its connection and was never stored, is not); s.mu held.
// Without a Store it does nothing (inlined: callers need not check).
func (s *session) changed() bool {
	return s.b.pst != nil && s.markDirty()
}

// markDirty is changed with a Store.
func (s *session) markDirty() bool {
	if s.sink != nil || (s.expiry == 0 && !s.stored) {
		return false
	}
	if !s.dirty {
		s.dirty = true
		p := s.b.pst
		p.mu.Lock()
		p.sessions[s] = struct{}{}
		p.mu.Unlock()
	}
	return true
}

// retainedChanged records that topic's retained message changed; $SYS
// topics, the broker's own, are not stored. Without a Store it does
// nothing.
func (p *persister) retainedChanged(topic string) {
	if p == nil || isSysTopic(topic) {
		return
	}
	p.mu.Lock()
	p.topics[topic] = struct{}{}
	p.mu.Unlock()
}

// await makes w wait for the write of everything marked so far, and asks
// for that write now.
func (p *persister) await(w ForwardWaiter) { p.awaitOr(w, nil) }

// awaitOr is await; a failed write is sent to fail (when not nil).
func (p *persister) awaitOr(w ForwardWaiter, fail chan<- error) {
	p.mu.Lock()
	p.waiters = append(p.waiters, durableWait{p.gen, w, fail})
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// chanWait is a ForwardWaiter closing a channel.
type chanWait chan struct{}

func (c chanWait) Forwarded() { close(c) }

// sync waits until everything marked so far is written, or the broker
// shuts down (for a SUBACK or UNSUBACK in StoreSync mode).
func (p *persister) sync() {
	c := make(chanWait)
	p.await(c)
	select {
	case <-c:
	case <-p.b.done:
	}
}

// write writes everything marked so far and returns the Store's answer.
func (p *persister) write() error {
	ok, fail := make(chanWait), make(chan error, 1)
	p.awaitOr(ok, fail)
	select {
	case <-ok:
		return nil
	case err := <-fail:
		return err
	case <-p.done:
		return ErrClosed
	}
}

// run writes batches until quit, then writes the last one.
func (p *persister) run(interval time.Duration) {
	defer close(p.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			for p.flush() && p.pending() { // the last changes, written before Close
			}
			return
		case <-p.wake:
		case <-t.C:
			if d := p.b.config().StoreInterval; d != interval {
				interval = d
				t.Reset(d)
			}
		}
		p.flush()
	}
}

// pending reports whether something is marked and not written.
func (p *persister) pending() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sessions)+len(p.topics)+len(p.waiters) > 0
}

// flush writes what is marked; false when the Store failed (the marks
// stay for the next try, and so do the acknowledgements waiting).
func (p *persister) flush() bool {
	p.mu.Lock()
	sessions, topics, waiters := p.sessions, p.topics, p.waiters
	gen := p.gen
	p.gen++
	p.sessions, p.topics, p.waiters = make(map[*session]struct{}, len(sessions)), make(map[string]struct{}), nil
	p.mu.Unlock()
	now := time.Now()
	if len(sessions)+len(topics) == 0 && (len(p.online) == 0 || now.Sub(p.lastWrite) < p.heartbeat) {
		// Everything marked before these waiters came is written: a
		// change to a session already marked is in the write that
		// snapshots it, which has ended.
		for _, w := range waiters {
			w.w.Forwarded()
		}
		return true
	}
	batch := &StoreBatch{Time: now}
	type written struct {
		s      *session
		online bool
	}
	ws := make([]written, 0, len(sessions))
	for s := range sessions {
		ws = append(ws, written{s, p.snapshot(s, batch, now)})
	}
	for topic := range topics {
		if m, ok := p.b.retained.Get(topic); ok && (m.expireAt == 0 || m.expireAt > now.UnixNano()) {
			w := m.wire(now.UnixNano())
			w.Retain = true
			batch.Retained = append(batch.Retained, StoredRetained{Saved: now, Message: w})
		} else {
			batch.DeleteRetained = append(batch.DeleteRetained, topic)
		}
	}
	if err := p.st.Write(batch); err != nil {
		p.failed(err, sessions, topics, waiters, gen)
		return false
	}
	if p.failing {
		p.failing = false
		p.b.log.Info("store writes work again", zap.Int("sessions", len(batch.Sessions)), zap.Int("retained", len(batch.Retained)))
	}
	p.lastWrite = now
	p.b.stats.storeWrites.Add(1)
	for _, w := range ws {
		if w.online {
			p.online[w.s] = struct{}{}
		} else {
			delete(p.online, w.s)
		}
	}
	for _, w := range waiters {
		if w.gen <= gen {
			w.w.Forwarded()
		}
	}
	return true
}

// snapshot adds s's record (or its deletion) to batch; it reports whether
// s is written as online; the caller holds nothing.
func (p *persister) snapshot(s *session, batch *StoreBatch, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dirty = false
	if s.ended || s.sink != nil || s.expiry == 0 {
		if s.stored {
			s.stored = false
			batch.DeleteSessions = append(batch.DeleteSessions, s.id)
		}
		return false
	}
	s.stored = true
	online := s.client != nil
	batch.Sessions = append(batch.Sessions, StoredSession{Saved: now, Online: online, State: *s.export(now)})
	return online
}

// failed puts a failed batch's marks and waiters back for the next try
// and logs the failure (at most every storeRetryLog).
func (p *persister) failed(err error, sessions map[*session]struct{}, topics map[string]struct{}, waiters []durableWait, gen uint64) {
	now := time.Now()
	if !p.failing || now.Sub(p.lastErr) >= storeRetryLog {
		p.b.log.Error("store write failed; retrying, acknowledgements waiting for it are held",
			zap.Error(err), zap.Int("sessions", len(sessions)), zap.Int("retained", len(topics)))
		p.lastErr = now
	}
	p.failing = true
	p.b.stats.storeErrors.Add(1)
	keep := waiters[:0]
	for _, w := range waiters {
		if w.fail != nil && w.gen <= gen {
			w.fail <- err
		} else {
			keep = append(keep, w)
		}
	}
	p.mu.Lock()
	for s := range sessions {
		p.sessions[s] = struct{}{}
	}
	for t := range topics {
		p.topics[t] = struct{}{}
	}
	p.waiters = append(keep, p.waiters...)
	p.mu.Unlock()
	for s := range sessions {
		s.mu.Lock()
		s.dirty = true
		s.stored = true // a deletion that failed is tried again
		s.mu.Unlock()
	}
}

// close writes what is left and closes the Store. A Store whose last
// write does not end by ctx's deadline, or within storeCloseWait if that
// is later, is left open, its goroutine running.
func (p *persister) close(ctx context.Context) error {
	close(p.quit)
	t := time.NewTimer(storeCloseWait)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		select {
		case <-p.done:
		case <-ctx.Done():
			return fmt.Errorf("broker: store: the last write did not end: %w", ctx.Err())
		}
	}
	return p.st.Close()
}
