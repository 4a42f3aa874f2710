package broker

import (
	"strconv"
	"strings"
	"time"
)

// runSys publishes broker statistics as retained messages under $SYS/ every
// SysInterval until Shutdown.
func (b *Broker) runSys() {
	defer b.bgWG.Done()
	t := time.NewTicker(b.config().SysInterval)
	defer t.Stop()
	b.publishSys()
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
			b.publishSys()
		}
	}
}

// publishSys publishes one round of $SYS topics (the names Mosquitto uses).
func (b *Broker) publishSys() {
	st := b.Stats()
	now := time.Now()
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	values := [...]struct{ topic, value string }{
		{"$SYS/broker/version", b.config().ServerName},
		{"$SYS/broker/uptime", i64(int64(st.Uptime/time.Second)) + " seconds"},
		{"$SYS/broker/clients/connected", i64(st.ClientsConnected)},
		{"$SYS/broker/clients/total", i64(int64(st.Sessions))},
		{"$SYS/broker/clients/maximum", strconv.Itoa(b.config().MaxConnections)},
		{"$SYS/broker/connections/total", i64(st.ClientsTotal)},
		{"$SYS/broker/subscriptions/count", strconv.Itoa(st.Subscriptions)},
		{"$SYS/broker/retained messages/count", strconv.Itoa(st.Retained)},
		{"$SYS/broker/messages/received", i64(st.MessagesReceived)},
		{"$SYS/broker/messages/sent", i64(st.MessagesSent)},
		{"$SYS/broker/messages/dropped", i64(st.MessagesDropped)},
		{"$SYS/broker/bytes/received", i64(st.BytesReceived)},
		{"$SYS/broker/bytes/sent", i64(st.BytesSent)},
		{"$SYS/broker/clients/refused", i64(st.ConnectsRefused)},
		{"$SYS/broker/memory/used", i64(st.MemoryUsed)},
		{"$SYS/broker/memory/limit", i64(st.MemoryLimit)},
		{"$SYS/broker/memory/refusals", i64(st.MemoryRefusals)},
		{"$SYS/broker/clients/slow", i64(st.SlowConsumers)},
	}
	for _, v := range values {
		b.routeMessage(newRetainedValue(v.topic, v.value), now)
	}
	if r, ok := b.peersOf().(SysReporter); ok {
		for name, n := range r.SysValues() {
			b.routeMessage(newRetainedValue("$SYS/broker/cluster/"+name, i64(n)), now)
		}
	}
	for cause, n := range st.Drops {
		b.routeMessage(newRetainedValue("$SYS/broker/messages/dropped/"+sysName(cause), i64(n)), now)
	}
	for rc, n := range st.Refusals {
		b.routeMessage(newRetainedValue("$SYS/broker/refusals/"+sysName(rc.String()), i64(n)), now)
	}
}

// sysName turns a name into a topic level: "Quota exceeded" becomes
// "quota-exceeded", "queue full (max_queued_messages)" becomes
// "queue-full-max_queued_messages".
func sysName(name string) string {
	name = strings.NewReplacer("(", "", ")", "", "'", "").Replace(strings.ToLower(name))
	return strings.ReplaceAll(name, " ", "-")
}
