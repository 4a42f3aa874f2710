package broker

// Byte accounting of stored messages. A message held by a session (queued
// or inflight) counts in that session's heldBytes against MaxQueuedBytes,
// once per session. Towards the broker's memory budget it counts once,
// whatever the number of holders (sessions and the retained store): the
// first holder charges it, the last gives it back.

// msgOverhead approximates what a stored message costs beyond its topic
// and payload (the struct, properties, queue and inflight entries).
const msgOverhead = 160

// size returns the bytes m is charged for, fixed when it was made.
func (m *message) size() int64 { return m.bytes }

// chargedSize computes the bytes m is charged for: topic, payload and
// properties plus msgOverhead.
func (m *message) chargedSize() int64 {
	n := int64(len(m.topic) + len(m.payload) + msgOverhead)
	if m.props.Present != 0 {
		n += int64(len(m.props.ContentType) + len(m.props.ResponseTopic) + len(m.props.CorrelationData))
		for _, u := range m.props.User {
			n += int64(len(u.Key) + len(u.Value) + 32)
		}
	}
	return n
}

// acquire adds a holder of m, charging m's size to budget for the first.
// It reports false, adding no holder, when the budget is spent.
func (m *message) acquire(budget *Budget) bool {
	for {
		n := m.holders.Load()
		if n > 0 {
			if m.holders.CompareAndSwap(n, n+1) {
				return true
			}
			continue
		}
		size := m.size()
		if !budget.charge(size) {
			return false
		}
		if m.holders.CompareAndSwap(0, 1) {
			return true
		}
		budget.release(size) // another holder came first
	}
}

// releaseHolder removes a holder of m, giving m's size back to budget
// with the last one.
func (m *message) releaseHolder(budget *Budget) {
	if m.holders.Add(-1) == 0 {
		budget.release(m.size())
	}
}

// hold makes s a holder of m, within MaxQueuedBytes and the memory
// budget; it returns why not otherwise. s.mu held.
func (s *session) hold(m *message) dropCause {
	size := m.size()
	if s.heldBytes+size > s.b.config().MaxQueuedBytes {
		return dropQueueBytes
	}
	if !m.acquire(s.b.mem) {
		return dropMemory
	}
	s.heldBytes += size
	return dropNone
}

// unhold ends s's hold on m; s.mu held.
func (s *session) unhold(m *message) {
	s.heldBytes -= m.size()
	m.releaseHolder(s.b.mem)
}
