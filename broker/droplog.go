package broker

import (
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
)

// dropCause says why a delivery was dropped.
type dropCause uint8

const (
	dropNone          dropCause = iota
	dropQueueFull               // MaxQueuedMessages
	dropQueueBytes              // MaxQueuedBytes
	dropMemory                  // the memory budget (MaxMemory or the node's)
	dropSlow                    // a slow consumer's excess
	dropEnded                   // the session was ending
	dropTooLarge                // larger than the client's Maximum Packet Size
	dropBacklog                 // QoS 0 to a client whose outbound buffer is full
	dropExpired                 // Message Expiry Interval passed while queued
	dropNotAuthorized           // a ReadAuthorizer refused the topic
	dropGroupEmpty              // a leaving shared group member's message had no other member to go to
	numDropCauses
)

var dropCauseNames = [numDropCauses]string{
	dropNone:          "none",
	dropQueueFull:     "queue full (max_queued_messages)",
	dropQueueBytes:    "queue bytes (max_queued_bytes)",
	dropMemory:        "memory budget",
	dropSlow:          "slow consumer",
	dropEnded:         "session ended",
	dropTooLarge:      "larger than the client's maximum packet size",
	dropBacklog:       "outbound buffer full (max_outbound_bytes)",
	dropExpired:       "message expired",
	dropNotAuthorized: "not authorized to read",
	dropGroupEmpty:    "shared group empty",
}

func (c dropCause) String() string { return dropCauseNames[c] }

// dropLogInterval is how often dropped deliveries are logged: one line per
// client and cause with the count of the interval.
const dropLogInterval = 5 * time.Second

// maxDropLines bounds the lines one interval logs; the rest are summed up
// in one line.
const maxDropLines = 100

// dropLog logs dropped deliveries once per interval from a timer
// goroutine, never under a session lock: sessions count their own drops
// (under their lock) and register with the log on the first drop of an
// interval, so a drop costs an increment.
type dropLog struct {
	log      *zap.Logger
	interval time.Duration

	mu       sync.Mutex // after session.mu in the lock order; nothing is taken while it is held
	sessions []*session // registered this interval
	others   map[dropKey]int64
	timer    *time.Timer // a flush is scheduled while non-nil
	stopped  bool

	flushMu sync.Mutex // held while logging, so that stop waits for it
}

type dropKey struct {
	client string
	cause  dropCause
}

// register adds s, which has dropped a delivery, to this interval's log;
// s.mu held.
func (d *dropLog) register(s *session) {
	d.mu.Lock()
	d.sessions = append(d.sessions, s)
	d.scheduleLocked()
	d.mu.Unlock()
}

// note counts one dropped delivery to a client without a session (an
// in-process subscriber).
func (d *dropLog) note(client string, cause dropCause) {
	d.mu.Lock()
	if d.others == nil {
		d.others = make(map[dropKey]int64)
	}
	d.others[dropKey{client, cause}]++
	d.scheduleLocked()
	d.mu.Unlock()
}

func (d *dropLog) scheduleLocked() {
	if d.timer == nil && !d.stopped {
		d.timer = time.AfterFunc(d.interval, d.flush)
	}
}

// stop logs what is counted now and schedules no more flushes (Shutdown).
func (d *dropLog) stop() {
	d.mu.Lock()
	d.stopped = true
	if d.timer != nil {
		d.timer.Stop()
	}
	d.mu.Unlock()
	d.flush()
}

// flush logs and resets the counts.
func (d *dropLog) flush() {
	d.flushMu.Lock()
	defer d.flushMu.Unlock()
	d.mu.Lock()
	sessions, counts := d.sessions, d.others
	d.sessions, d.others, d.timer = nil, nil, nil
	d.mu.Unlock()
	if counts == nil {
		counts = make(map[dropKey]int64)
	}
	for _, s := range sessions {
		s.mu.Lock()
		for cause, n := range s.drops {
			if n > 0 {
				counts[dropKey{s.id, dropCause(cause)}] += n
			}
		}
		s.drops = [numDropCauses]int64{}
		s.mu.Unlock()
	}
	keys := make([]dropKey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return counts[keys[i]] > counts[keys[j]] })
	var restClients int
	var restDrops int64
	for i, k := range keys {
		if i >= maxDropLines {
			restClients++
			restDrops += counts[k]
			continue
		}
		d.log.Warn("messages dropped", zap.String("client", k.client), zap.String("cause", k.cause.String()),
			zap.Int64("count", counts[k]), zap.Duration("interval", d.interval))
	}
	if restClients > 0 {
		d.log.Warn("messages dropped for more clients", zap.Int("clients", restClients), zap.Int64("count", restDrops),
			zap.Duration("interval", d.interval))
	}
}

// drop counts one delivery to s dropped for cause, and logs it with the
// interval's others; s.mu held.
func (s *session) drop(cause dropCause) {
	s.b.stats.msgsDropped.Add(1)
	s.b.stats.drops[cause].Add(1)
	if s.drops == ([numDropCauses]int64{}) {
		s.b.drops.register(s)
	}
	s.drops[cause]++
}

// countDrop counts one delivery to a client without a session dropped for
// cause.
func (b *Broker) countDrop(client string, cause dropCause) {
	b.stats.msgsDropped.Add(1)
	b.stats.drops[cause].Add(1)
	b.drops.note(client, cause)
}
