package broker

// The session queue: QoS 1/2 deliveries waiting for the inflight window or
// for the client to come back, bounded by MaxQueuedMessages (count) and,
// with the inflight messages, by MaxQueuedBytes (hold.go).

// queuedMsg is a QoS 1/2 delivery waiting for the inflight window or for
// the client to come back.
type queuedMsg struct {
	m      *message
	qos    byte
	retain bool
	subIDs []uint32
	// group is the shared group the message came through (nil: a plain
	// subscription); it goes to the rest of the group if s leaves it
	// (leave.go).
	group *shareGroup
}

// queueLen returns the number of queued messages; s.mu held.
func (s *session) queueLen() int { return len(s.queue) - s.qhead }

// push appends a held QoS 1/2 delivery (the caller checked the limits);
// s.mu held.
func (s *session) push(q queuedMsg) {
	if s.qhead > 64 && s.qhead*2 >= len(s.queue) { // drop the dead prefix
		n := copy(s.queue, s.queue[s.qhead:])
		clear(s.queue[n:])
		s.queue, s.qhead = s.queue[:n], 0
	}
	s.queue = append(s.queue, q)
}

// requeueFront puts a held message back at the head of the queue (it
// could not be sent); s.mu held.
func (s *session) requeueFront(q queuedMsg) {
	if s.qhead > 0 {
		s.qhead--
		s.queue[s.qhead] = q
		return
	}
	s.queue = append(s.queue, queuedMsg{})
	copy(s.queue[1:], s.queue)
	s.queue[0] = q
}

// dequeue removes the oldest queued message, which stays held (it moves
// to the inflight window, or is released by the caller); s.mu held.
func (s *session) dequeue() (queuedMsg, bool) {
	if s.qhead == len(s.queue) {
		return queuedMsg{}, false
	}
	q := s.queue[s.qhead]
	s.queue[s.qhead] = queuedMsg{}
	s.qhead++
	if s.qhead == len(s.queue) {
		s.queue, s.qhead = s.queue[:0], 0
		if cap(s.queue) > 1024 {
			s.queue = nil
		}
	}
	return q, true
}

// discardMessages releases every queued and inflight message of an ended
// session; s.mu held.
func (s *session) discardMessages() {
	for i := s.qhead; i < len(s.queue); i++ {
		s.unhold(s.queue[i].m)
	}
	s.queue, s.qhead = nil, 0
	for pid, e := range s.inflight {
		if e.m != nil {
			s.unhold(e.m)
		}
		delete(s.inflight, pid)
	}
	s.pending = nil
}
