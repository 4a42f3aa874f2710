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
}

func (c dropCause) String() string { return dropCauseNames[c] }

// dropLogInterval is how often dropped deliveries are logged: one line per
// client and cause with the count of the interval.
const dropLogInterval = 5 * time.Second

// maxDropLines bounds the lines one interval logs; the rest are summed up
// in one line.
const maxDropLines = 100

// dropLog counts dropped deliveries per client and cause, and logs them
// once per interval from a timer goroutine, never under a session lock.
type dropLog struct {
	log      *zap.Logger
	interval time.Duration

	mu      sync.Mutex // a leaf lock: nothing is taken while it is held
	counts  map[dropKey]int64
	timer   *time.Timer // a flush is scheduled while non-nil
	stopped bool

	flushMu sync.Mutex // held while logging, so that stop waits for it
}

type dropKey struct {
	client string
	cause  dropCause
}

// note counts one dropped delivery to client for cause. Safe under any
// lock; it never blocks on I/O.
func (d *dropLog) note(client string, cause dropCause) {
	d.mu.Lock()
	if d.counts == nil {
		d.counts = make(map[dropKey]int64)
	}
	d.counts[dropKey{client, cause}]++
	if d.timer == nil && !d.stopped {
		d.timer = time.AfterFunc(d.interval, d.flush)
	}
	d.mu.Unlock()
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
	counts := d.counts
	d.counts = nil
	d.timer = nil
	d.mu.Unlock()
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

// drop counts and logs (rate-limited) one delivery to s dropped for cause.
func (s *session) drop(cause dropCause) {
	s.b.countDrop(s.id, cause)
}

// countDrop counts one delivery to client dropped for cause.
func (b *Broker) countDrop(client string, cause dropCause) {
	b.stats.msgsDropped.Add(1)
	b.stats.drops[cause].Add(1)
	b.drops.note(client, cause)
}
