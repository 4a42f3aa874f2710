package broker

import (
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/internal/packet"
)

// Restore installs what New loaded from the Store (WithStore): the
// retained messages, then the sessions, offline, with their subscriptions
// and messages in order. Expiry counts the time the broker was down: a
// session saved offline counts from when it was saved, one saved online
// from the store's last write (its connection ended with the broker); a
// session whose expiry has passed is dropped with its messages, its will
// published, and a will whose delay has passed is published: once, as
// the sessions' new state is written before the wills go out (if that
// write fails, they go out at the next start instead). Today's limits apply: a queue
// longer than MaxQueuedMessages keeps its oldest messages, retained
// messages beyond MaxRetainedMessages or MaxRetainedBytes are dropped, and
// the drops are logged.
//
// The first connection served, Publish and Subscribe restore implicitly;
// call Restore after SetPeers and before serving to see its error: that
// of writing what the restore changed (what was loaded is installed
// whatever the error). Later calls return the first call's error; without
// a Store it does nothing.
func (b *Broker) Restore() error {
	b.restoreOnce.Do(func() { b.restoreErr = b.restore() })
	return b.restoreErr
}

// restoreFirst restores, once, before the broker serves anything (the
// implicit Restore); its error is logged.
func (b *Broker) restoreFirst() {
	if b.pst != nil {
		_ = b.Restore()
	}
}

// restore is Restore's one run.
func (b *Broker) restore() error {
	loaded := b.loaded
	b.loaded = nil
	if loaded == nil || b.closed() {
		return nil
	}
	b.restoring.Store(true)
	defer b.restoring.Store(false)
	start := time.Now()
	cfg := b.config()
	retained, dropped := b.restoreRetained(loaded.Retained, cfg, start)
	var wills []*will
	var expired, trimmed int
	for i := range loaded.Sessions {
		ss := &loaded.Sessions[i]
		w, ok, cut := b.restoreSession(ss, loaded.Alive, cfg, start)
		wills = append(wills, w)
		expired += btoi(!ok)
		trimmed += cut
	}
	// The sessions' new state (the expired ones deleted) is written before
	// their wills go out, so that a crash now cannot publish them twice;
	// what the wills changed is written before Restore returns too.
	err := b.pst.write()
	published := 0
	for _, w := range wills {
		if w != nil && err == nil {
			b.publishMessage(w.m, time.Now())
			published++
		}
		b.releaseWill(w)
	}
	if published > 0 {
		err = b.pst.write()
	}
	level := zap.InfoLevel
	if len(loaded.Sessions)+len(loaded.Retained) == 0 {
		level = zap.DebugLevel
	}
	b.log.Log(level, "store restored", zap.Int("sessions", len(loaded.Sessions)-expired), zap.Int("sessions_expired", expired),
		zap.Int("wills_published", published),
		zap.Int("retained", retained), zap.Int("retained_dropped", dropped), zap.Int("queued_dropped", trimmed),
		zap.Duration("took", time.Since(start)))
	if err != nil {
		b.log.Error("writing the restored store", zap.Error(err))
	}
	return err
}

// restoreRetained installs the stored retained messages still alive
// within the retained quotas; it returns how many it installed and how
// many it dropped (deleted from the store).
func (b *Broker) restoreRetained(rs []StoredRetained, cfg *Config, now time.Time) (kept, dropped int) {
	var bytes int64
	for i := range rs {
		p := &rs[i].Message
		if !adjustExpiry(p, rs[i].Saved, now) {
			b.pst.retainedChanged(p.Topic)
			continue
		}
		over := cfg.MaxRetainedMessages > 0 && kept >= cfg.MaxRetainedMessages ||
			cfg.MaxRetainedBytes > 0 && bytes+int64(len(p.Payload)) > cfg.MaxRetainedBytes
		m := newMessage(p, nil, now)
		m.retain = true
		if over || !b.putRetained(m, false) {
			dropped++
			b.pst.retainedChanged(p.Topic)
			continue
		}
		kept++
		bytes += int64(len(p.Payload))
	}
	if dropped > 0 {
		b.log.Warn("stored retained messages dropped: over the retained quotas or the memory budget",
			zap.Int("dropped", dropped), zap.Int("max_retained_messages", cfg.MaxRetainedMessages),
			zap.Int64("max_retained_bytes", cfg.MaxRetainedBytes))
	}
	return kept, dropped
}

// adjustExpiry makes p's Message Expiry Interval what is left of it at now,
// counted from saved; false when nothing is left.
func adjustExpiry(p *WirePublish, saved, now time.Time) bool {
	if !p.Props.Has(packet.PropMessageExpiry) {
		return true
	}
	left := remaining(p.Props.MessageExpiry, saved, now)
	p.Props.MessageExpiry = left
	return left > 0
}

// restoreSession installs one stored session, offline. It returns the will
// to publish now (its delay or the session's expiry passed while the
// broker was down), whether the session is kept, and how many queued
// messages today's MaxQueuedMessages cut.
func (b *Broker) restoreSession(ss *StoredSession, alive time.Time, cfg *Config, now time.Time) (*will, bool, int) {
	st := &ss.State
	since := ss.Saved // when the counting of expiry and will delay starts
	if ss.Online && alive.After(since) {
		since = alive
	}
	down := func(secs uint32) uint32 { return remaining(secs, since, now) }
	var publish *will
	if st.Will != nil {
		w := st.Will
		delay, expiry := down(w.Delay), down(st.Expiry)
		if delay == 0 || expiry == 0 {
			if adjustExpiry(&w.Message, ss.Saved, now) {
				publish = b.newWill(&w.Message, 0, now)
			}
			st.Will = nil
		} else {
			w.Delay, w.Connected = delay, false
			adjustExpiry(&w.Message, ss.Saved, now)
		}
	}
	if st.Expiry = down(st.Expiry); st.Expiry == 0 {
		b.markDeleted(st.ClientID)
		return publish, false, 0
	}
	cut := 0
	if over := len(st.Queue) - cfg.MaxQueuedMessages; over > 0 {
		cut = over
		st.Queue = st.Queue[:cfg.MaxQueuedMessages]
		b.log.Warn("stored session's queue cut to max_queued_messages", zap.String("client", st.ClientID),
			zap.Int("dropped", cut), zap.Int("max_queued_messages", cfg.MaxQueuedMessages))
	}
	for _, q := range st.Queue { // messages' expiry was what was left when saved
		adjustExpiry(q.Message, ss.Saved, now) // an expired one is dropped when its turn comes
	}
	for _, e := range st.Inflight {
		if e.Message != nil {
			adjustExpiry(e.Message, ss.Saved, now)
		}
	}
	changed := ss.Online || cut > 0 || publish != nil
	if err := b.importSession(st, true, changed); err != nil {
		b.log.Warn("stored session not restored", zap.String("client", st.ClientID), zap.Error(err))
		return publish, false, cut
	}
	return publish, true, cut
}

// markDeleted has the persister delete clientID's record: a placeholder
// session, ended, stands for it.
func (b *Broker) markDeleted(clientID string) {
	s := newSession(b, clientID)
	s.mu.Lock()
	s.ended, s.stored = true, true
	s.changed()
	s.mu.Unlock()
}
