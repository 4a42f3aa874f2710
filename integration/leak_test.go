package integration

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// After Shutdown returns, no goroutine of the broker is left: not the
// connections' readers and writers, not $SYS, not in-process subscribers,
// not the timers of a pending will and session expiry.
//
// This test does not call t.Parallel: a goroutine leak check has to own the
// process. It runs in the sequential phase, when every parallel test is
// still parked in t.Parallel, and ignores what ran before it.
func TestShutdownLeavesNoGoroutines(t *testing.T) {
	before := goleak.IgnoreCurrent()
	n := startBroker(t, broker.Config{SysInterval: 20 * time.Millisecond})
	sub := dialV5(t, n, "sub")
	sub.subscribe("#", 1)
	inproc, err := n.b.Subscribe("#", 1, func(*broker.Message) {})
	if err != nil {
		t.Fatal(err)
	}
	defer inproc.Unsubscribe()
	dialV5(t, n, "gone", will("w/t", "x", 1, 5), sessionExpiry(10)).drop()
	dialRaw(t, n, packet.V5) // connected over TCP, CONNECT not sent yet
	pub := dialV5(t, n, "pub")
	pub.publish("a/b", "x", 1, false)
	expectMessage(t, sub.msgs, waitFor)

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	start := time.Now()
	if err := n.b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Shutdown took %s with only well-behaved clients", d)
	}
	<-sub.Done()
	<-pub.Done()
	goleak.VerifyNone(t, append(pahoIgnores(), before)...)
}
