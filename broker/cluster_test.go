package broker

import (
	"testing"

	"github.com/jmqx/jmqx/internal/packet"
)

// TestDeliverRemoteAllocs guards the receiving side of the cluster: a QoS 0
// message forwarded by a peer reaches local subscribers without allocating
// (the route's scratch is reused, as a client's is).
func TestDeliverRemoteAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("uses sockets; the race detector allocates")
	}
	rig := newFanoutRig(t, 3, packet.V311)
	pub := &packet.Publish{Topic: "bench/topic", Payload: make([]byte, 64)}
	deliver := func() {
		rig.b.DeliverRemote(pub, nil)
		for range 3 {
			<-rig.got
		}
	}
	for range 200 { // warm up pools and caches
		deliver()
	}
	if allocs := testing.AllocsPerRun(500, deliver); allocs > 0.5 {
		t.Errorf("%.2f allocations per forwarded message, want 0", allocs)
	}
}

// BenchmarkDeliverRemote measures one forwarded QoS 0 message delivered to
// 10 local subscribers over loopback TCP.
func BenchmarkDeliverRemote(b *testing.B) {
	const subs = 10
	rig := newFanoutRig(b, subs, packet.V311)
	pub := &packet.Publish{Topic: "bench/topic", Payload: make([]byte, 64)}
	b.ReportAllocs()
	for b.Loop() {
		rig.b.DeliverRemote(pub, nil)
		for range subs {
			<-rig.got
		}
	}
}
