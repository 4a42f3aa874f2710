package broker

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/jmqx/jmqx/internal/packet"
)

func TestDropLogOneLinePerClientAndCause(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	d := &dropLog{log: zap.New(core), interval: time.Hour}
	for i := 0; i < 1000; i++ {
		d.note("slow", dropQueueFull)
	}
	d.note("slow", dropSlow)
	d.note("other", dropQueueFull)
	if logs.Len() != 0 {
		t.Fatalf("%d lines logged before the interval ended", logs.Len())
	}
	d.stop()
	if logs.Len() != 3 {
		t.Fatalf("%d lines, want 3 (one per client and cause)", logs.Len())
	}
	first := logs.All()[0].ContextMap()
	if first["client"] != "slow" || first["count"] != int64(1000) {
		t.Fatalf("first line %v, want the largest count first", first)
	}
	d.note("late", dropQueueFull) // after stop: counted, no timer
	if d.timer != nil {
		t.Fatal("a flush was scheduled after stop")
	}
}

func TestDropLogBoundsLinesPerInterval(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	d := &dropLog{log: zap.New(core), interval: time.Hour}
	for i := 0; i < maxDropLines+50; i++ {
		d.note(string(rune('a'+i%26))+string(rune('a'+i/26)), dropMemory)
	}
	d.stop()
	if logs.Len() != maxDropLines+1 {
		t.Fatalf("%d lines, want %d and one summary", logs.Len(), maxDropLines+1)
	}
}

func TestMergeTargetFoldsOverlapsLinearly(t *testing.T) {
	br, err := New(Config{SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	sessions := make([]*session, n)
	for i := range sessions {
		sessions[i] = newSession(br, "s")
		br.subs.Subscribe("q/#", sessions[i], subOpts{qos: 0, id: 1})
		br.subs.Subscribe("q/+", sessions[i], subOpts{qos: 1, id: 2})
	}
	var r route
	r.reset(br, nil, newMessage(&packetPublishQ1, nil, timeZero), nil, timeZero)
	res := br.subs.Match("q/x")
	r.index = make(map[*session]int32)
	for i := range res.Subs {
		e := &res.Subs[i]
		r.mergeTarget(e.Key, min(1, e.Value.qos), false, &e.Value)
	}
	if len(r.targets) != n {
		t.Fatalf("%d targets for %d sessions", len(r.targets), n)
	}
	for _, tg := range r.targets {
		if tg.qos != 1 || tg.id != 2 {
			t.Fatalf("target qos %d with %d ids, want 1 and 2", tg.qos, tg.id)
		}
	}
}

var packetPublishQ1 = packet.Publish{Topic: "q/x", Payload: []byte("p"), QoS: 1}
