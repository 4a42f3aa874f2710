package broker

import (
	"sync/atomic"
	"time"

	"github.com/jmqx/jmqx/internal/packet"
)

// counters are the broker-wide statistics, updated atomically.
type counters struct {
	connected      atomic.Int64 // current connections past CONNACK
	connectsTotal  atomic.Int64
	msgsReceived   atomic.Int64 // PUBLISH packets received
	msgsSent       atomic.Int64 // PUBLISH packets sent
	bytesReceived  atomic.Int64
	bytesSent      atomic.Int64
	msgsDropped    atomic.Int64 // deliveries dropped (queue full, too large, expired, slow consumer)
	refused        atomic.Int64 // connections refused at CONNECT
	protocolErrors atomic.Int64 // connections closed for a protocol violation
	throttled      atomic.Int64 // times a publisher's acknowledgements were held back
	// refusals counts refusals by MQTT 5 reason code (see Stats.Refusals).
	refusals       [256]atomic.Int64
	drops          [numDropCauses]atomic.Int64 // dropped deliveries by cause
	slowConsumers  atomic.Int64                // sessions marked slow
	memoryRefusals atomic.Int64                // demands refused by the memory budget
	storeWrites    atomic.Int64                // batches written to the Store
	storeErrors    atomic.Int64                // failed Store writes
}

// refuse counts one refusal with reason code rc.
func (c *counters) refuse(rc packet.ReasonCode) { c.refusals[rc].Add(1) }

// Stats is a snapshot of a broker's statistics.
type Stats struct {
	Uptime           time.Duration
	ClientsConnected int64 // connections past CONNACK now
	ClientsTotal     int64 // CONNACKs accepted since start
	Sessions         int   // sessions held, connected or not
	Subscriptions    int
	Retained         int
	// RetainedBytes is the payload size of the retained messages.
	RetainedBytes int64
	// Queued and Inflight are the QoS 1/2 (and queued QoS 0) messages the
	// sessions hold: waiting to be sent, and sent but not yet acknowledged.
	// They are counted by visiting every session, so Stats costs a lock of
	// each session; nothing is counted on the publish path.
	Queued, Inflight int
	MessagesReceived int64
	MessagesSent     int64
	MessagesDropped  int64
	BytesReceived    int64
	BytesSent        int64
	ConnectsRefused  int64
	ProtocolErrors   int64
	// PublishersThrottled counts the times a publisher was slowed down:
	// its acknowledgements held back because a connected subscriber's
	// queue was full, or its reading paused by MaxMessageRate/MaxByteRate.
	PublishersThrottled int64
	// Refusals counts, by MQTT 5 reason code, what the broker refused: a
	// CONNECT (CONNACK), a subscription (SUBACK), a PUBLISH (not authorized
	// or over a quota, whatever its QoS and protocol version), and the
	// client errors that ended a connection (DISCONNECT or close). 3.x
	// clients are counted under the v5 code of the cause. Codes never
	// seen are absent.
	Refusals map[ReasonCode]int64
	// Drops counts dropped deliveries by cause ("queue full
	// (max_queued_messages)", "slow consumer", "memory budget", ...), the
	// parts of MessagesDropped. Causes never seen are absent.
	Drops map[string]int64
	// SlowConsumers counts the times a subscriber held its publishers
	// back for SlowConsumerWait and was marked slow.
	SlowConsumers int64
	// MemoryUsed and MemoryLimit are the broker's memory budget
	// (MaxMemory): bytes charged now, and the limit.
	MemoryUsed, MemoryLimit int64
	// MemoryRefusals counts the demands refused because a memory budget
	// (the broker's or the node's) was spent: packets too large to read
	// (0x97), retained messages and subscriptions (0x97), wills (CONNACK
	// 0x97) and topic aliases. Deliveries dropped for it are in Drops.
	MemoryRefusals int64
	// StoreWrites and StoreErrors count the batches written to the Store
	// (WithStore) and the writes that failed (and were tried again).
	StoreWrites, StoreErrors int64
}

// Stats returns a snapshot of the broker's statistics.
func (b *Broker) Stats() Stats {
	b.mu.Lock()
	held := make([]*session, 0, len(b.sessions))
	for _, s := range b.sessions {
		held = append(held, s)
	}
	b.mu.Unlock()
	var queued, inflight int
	for _, s := range held {
		s.mu.Lock()
		queued += s.queueLen()
		inflight += len(s.inflight)
		s.mu.Unlock()
	}
	return Stats{
		Uptime:              time.Since(b.started),
		ClientsConnected:    b.stats.connected.Load(),
		ClientsTotal:        b.stats.connectsTotal.Load(),
		Sessions:            len(held),
		Queued:              queued,
		Inflight:            inflight,
		RetainedBytes:       b.retainedBytes.Load(),
		Subscriptions:       b.subs.Len(),
		Retained:            b.retained.Len(),
		MessagesReceived:    b.stats.msgsReceived.Load(),
		MessagesSent:        b.stats.msgsSent.Load(),
		MessagesDropped:     b.stats.msgsDropped.Load(),
		BytesReceived:       b.stats.bytesReceived.Load(),
		BytesSent:           b.stats.bytesSent.Load(),
		ConnectsRefused:     b.stats.refused.Load(),
		ProtocolErrors:      b.stats.protocolErrors.Load(),
		PublishersThrottled: b.stats.throttled.Load(),
		Refusals:            b.stats.refusalMap(),
		Drops:               b.stats.dropMap(),
		SlowConsumers:       b.stats.slowConsumers.Load(),
		MemoryUsed:          b.mem.Used(),
		MemoryLimit:         b.mem.Limit(),
		MemoryRefusals:      b.stats.memoryRefusals.Load(),
		StoreWrites:         b.stats.storeWrites.Load(),
		StoreErrors:         b.stats.storeErrors.Load(),
	}
}

func (c *counters) refusalMap() map[packet.ReasonCode]int64 {
	m := make(map[packet.ReasonCode]int64)
	for i := range c.refusals {
		if n := c.refusals[i].Load(); n != 0 {
			m[packet.ReasonCode(i)] = n
		}
	}
	return m
}

func (c *counters) dropMap() map[string]int64 {
	m := make(map[string]int64)
	for i := range c.drops {
		if n := c.drops[i].Load(); n != 0 {
			m[dropCause(i).String()] = n
		}
	}
	return m
}
