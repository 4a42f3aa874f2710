package integration

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/jmqx/jmqx/internal/packet"
	"github.com/jmqx/jmqx/tenant"
)

// argon2idHash returns the PHC string of password's argon2id hash with
// memory m KiB, one pass and one lane.
func argon2idHash(t *testing.T, password string, m uint32) string {
	t.Helper()
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	key := argon2.IDKey([]byte(password), salt, 1, m, 1, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=1,p=1$%s$%s", m, enc.EncodeToString(salt), enc.EncodeToString(key))
}

// heapStats are the runtime/metrics figures of the heap a test watches.
type heapStats struct {
	objects uint64 // bytes of heap objects, live or not yet collected
	live    uint64 // bytes the last garbage collection found live
	cycles  uint64 // garbage collections completed
}

// readHeapStats reads heapStats.
func readHeapStats() heapStats {
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}
	metrics.Read(s)
	return heapStats{objects: s[0].Value.Uint64(), live: s[1].Value.Uint64(), cycles: s[2].Value.Uint64()}
}

// sampleHeapPeak samples readHeapStats every millisecond until stop is
// closed, then sends the highest objects and live figures seen and the
// last cycle count.
func sampleHeapPeak(stop <-chan struct{}) <-chan heapStats {
	peak := make(chan heapStats, 1)
	go func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		var p heapStats
		for {
			s := readHeapStats()
			p = heapStats{objects: max(p.objects, s.objects), live: max(p.live, s.live), cycles: s.cycles}
			select {
			case <-stop:
				peak <- p
				return
			case <-tick.C:
			}
		}
	}()
	return peak
}

// rawConnectV5 sends an MQTT 5 CONNECT with user and password on a new
// connection to addr and returns the CONNACK's reason code; it gives up
// after timeout.
func rawConnectV5(addr, clientID, user, password string, timeout time.Duration) (packet.ReasonCode, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return 0, fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	cp := packet.Connect{ProtocolName: "MQTT", Version: packet.V5, CleanStart: true, KeepAlive: 30, ClientID: clientID,
		UsernameFlag: true, Username: user, PasswordFlag: true, Password: []byte(password)}
	if _, err := conn.Write(cp.AppendTo(nil, packet.V5)); err != nil {
		return 0, fmt.Errorf("write CONNECT: %w", err)
	}
	p, err := packet.ReadPacket(conn, packet.V5, 0)
	if err != nil {
		return 0, fmt.Errorf("read CONNACK: %w", err)
	}
	ack, ok := p.(*packet.Connack)
	if !ok {
		return 0, fmt.Errorf("got %s, want a CONNACK", describe(p))
	}
	return ack.ReasonCode, nil
}

// Sixteen concurrent wrong-password CONNECTs against an argon2id hash of
// the largest memory allowed (64 MiB) with two password checks at a time:
// every client is refused promptly with 0x86 (or 0x89 if its check could
// not get a slot within PasswordCheckWait), and the heap grows by about
// two hashes' memory, not sixteen (with no limit, it grows by about 1 GiB).
//
// The bound is checked on the live heap, which is what the limit bounds:
// the peak of what the garbage collections during the storm found live
// must stay under 3 × 64 MiB + 32 MiB (the checks running, one more that
// the collector marked live as it was being allocated, and slack). The
// heap objects not yet collected are bounded too, at twice that plus one
// hash: with GOGC=100 (pinned for the test) the collector lets the heap
// reach twice its live size before collecting, and one more check may
// allocate while a collection runs.
func TestPasswordCheckMemoryBounded(t *testing.T) {
	const (
		clients      = 16
		checks       = 2
		hashMiB      = tenant.MaxArgon2Memory >> 10
		liveBound    = (3*hashMiB + 32) << 20
		objectsBound = 2*liveBound + hashMiB<<20
	)
	h := startHost(t, tenant.HostConfig{MaxConcurrentPasswordChecks: checks})
	spec := basicSpec("argon-storm")
	spec.Auth = tenant.Auth{Users: []tenant.User{{Name: "dev", PasswordHashes: []string{argon2idHash(t, "right", tenant.MaxArgon2Memory)}}}}
	apply(t, h, spec)
	addr := tenantNode(t, h, "argon-storm", "mqtt").addr

	defer debug.SetGCPercent(debug.SetGCPercent(100)) // the default, whatever GOGC says
	runtime.GC()
	base := readHeapStats()
	stop := make(chan struct{})
	peak := sampleHeapPeak(stop)
	start := time.Now()
	codes := make([]packet.ReasonCode, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			// PasswordCheckWait, then one check, must fit well within this.
			codes[i], errs[i] = rawConnectV5(addr, fmt.Sprint("storm-", i), "dev", "wrong", 3*tenant.PasswordCheckWait)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stop)
	p := <-peak
	objects, live := int64(p.objects)-int64(base.objects), int64(p.live)-int64(base.live)

	busy := 0
	for i := range clients {
		switch {
		case errs[i] != nil:
			t.Errorf("client %d: %v", i, errs[i])
		case codes[i] == packet.ServerBusy:
			busy++
		case codes[i] != packet.BadUsernameOrPassword:
			t.Errorf("client %d: CONNACK %#02x (%v), want 0x86 or 0x89", i, byte(codes[i]), codes[i])
		}
	}
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	t.Logf("%d wrong-password CONNECTs, %d password checks at a time: %s, %d refused 0x89, %d GC cycles; "+
		"peak growth: live heap %.1f MiB (bound %d MiB), heap objects with garbage %.1f MiB (bound %d MiB)",
		clients, checks, elapsed.Round(time.Millisecond), busy, p.cycles-base.cycles,
		mib(live), liveBound>>20, mib(objects), objectsBound>>20)
	if p.cycles == base.cycles {
		t.Error("no garbage collection during the storm: the live heap was not measured")
	}
	if live >= liveBound {
		t.Errorf("the live heap grew by %.1f MiB during the storm, want < %d MiB", mib(live), liveBound>>20)
	}
	if objects >= objectsBound {
		t.Errorf("heap objects grew by %.1f MiB during the storm, want < %d MiB", mib(objects), objectsBound>>20)
	}
}

// A deny rule with %c applies, failing closed, to a client whose id holds
// '/': it cannot publish to its own devices/%c/config by choosing the id
// "a/b", nor subscribe there, and subscribers do not get its message.
func TestTenantDenyUnsubstitutableClientID(t *testing.T) {
	h := startHost(t, tenant.HostConfig{})
	spec := basicSpec("deny-closed")
	spec.ACL = tenant.ACL{Default: tenant.Allow, Rules: []tenant.Rule{
		{Action: tenant.Deny, Access: tenant.AccessPublish, Topic: "devices/%c/config"},
		{Action: tenant.Deny, Access: tenant.AccessSubscribe, Topic: "devices/%c/config"},
	}}
	apply(t, h, spec)
	n := tenantNode(t, h, "deny-closed", "mqtt")

	watcher := dialV5(t, n, "watcher")
	if rc := watcher.subscribe("devices/a/b/#", 1); rc >= 0x80 {
		t.Fatalf("watcher SUBACK %#02x, want granted", rc)
	}
	slash := dialV5(t, n, "a/b")
	if rc := slash.publish("devices/a/b/config", "forged", 1, false); rc != byte(packet.NotAuthorized) {
		t.Errorf("client a/b publishing devices/a/b/config: PUBACK %#02x, want 0x87", rc)
	}
	if rc := slash.publish("devices/a/b/other", "forged", 1, false); rc != byte(packet.NotAuthorized) {
		t.Errorf("client a/b publishing devices/a/b/other: PUBACK %#02x, want 0x87 (the deny applies to every topic)", rc)
	}
	for _, filter := range []string{"devices/a/b/config", "devices/+/+/config", "#"} {
		if rc := slash.subscribe(filter, 1); rc != byte(packet.NotAuthorized) {
			t.Errorf("client a/b subscribing %s: SUBACK %#02x, want 0x87", filter, rc)
		}
	}

	// The rules still apply as written to an ordinary client id, and its
	// message (allowed: its own config topic is devices/c1/config) is the
	// first the watcher gets.
	c1 := dialV5(t, n, "c1")
	if rc := c1.publish("devices/c1/config", "x", 1, false); rc != byte(packet.NotAuthorized) {
		t.Errorf("client c1 publishing devices/c1/config: PUBACK %#02x, want 0x87", rc)
	}
	if rc := c1.publish("devices/a/b/config", "sentinel", 1, false); rc != 0 {
		t.Fatalf("client c1 publishing devices/a/b/config: PUBACK %#02x, want 0", rc)
	}
	expectNoMessage(t, watcher.msgs, "sentinel")
}
