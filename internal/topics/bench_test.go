package topics

import (
	"fmt"
	"testing"
)

var metrics = []string{"temp", "hum", "co2", "pm", "lux", "noise", "vib"}

// benchTrie returns a Trie with 1000 subscriptions over 100 devices, mixing
// literal, '+', '#' and shared filters, and topics that hit them.
func benchTrie(b *testing.B, opts ...Option) (*Trie[int, byte], []string) {
	tr := New[int, byte](opts...)
	for i := range 1000 {
		dev := (i / 5) % 100
		var f string
		switch i % 5 {
		case 0:
			f = fmt.Sprintf("devices/%d/telemetry/temp", dev)
		case 1:
			f = fmt.Sprintf("devices/%d/+/temp", dev)
		case 2:
			f = fmt.Sprintf("devices/%d/#", dev)
		case 3:
			f = "devices/+/telemetry/" + metrics[i%len(metrics)]
		case 4:
			f = fmt.Sprintf("$share/g%d/devices/%d/telemetry/+", i%3, dev)
		}
		tr.Subscribe(f, i, 1)
	}
	topics := make([]string, 100)
	for i := range topics {
		topics[i] = fmt.Sprintf("devices/%d/telemetry/temp", i)
	}
	if r := tr.Match(topics[0]); len(r.Subs) == 0 || len(r.Groups) == 0 {
		b.Fatalf("benchmark topic matches %q", describe(r))
	}
	return tr, topics
}

func BenchmarkMatchCached(b *testing.B) {
	tr, topics := benchTrie(b)
	tr.Match(topics[0])
	b.ReportAllocs()
	for b.Loop() {
		tr.Match(topics[0])
	}
}

func BenchmarkMatchUncached(b *testing.B) {
	tr, topics := benchTrie(b, WithCacheSize(0))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tr.Match(topics[i%len(topics)])
		i++
	}
}

// BenchmarkMatchMiss measures a Match that misses a full cache: compute,
// then evict and insert under the write lock.
func BenchmarkMatchMiss(b *testing.B) {
	tr, _ := benchTrie(b, WithCacheSize(64))
	topics := make([]string, 4096)
	for i := range topics {
		topics[i] = fmt.Sprintf("devices/%d/telemetry/temp", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tr.Match(topics[i%len(topics)])
		i++
	}
}

func BenchmarkMatchParallel(b *testing.B) {
	tr, topics := benchTrie(b)
	for _, t := range topics {
		tr.Match(t)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			tr.Match(topics[i%len(topics)])
			i++
		}
	})
}

func BenchmarkSubscribeUnsubscribe(b *testing.B) {
	tr, topics := benchTrie(b)
	for _, t := range topics {
		tr.Match(t) // a full cache makes wildcard changes scan it
	}
	b.ReportAllocs()
	for b.Loop() {
		tr.Subscribe("devices/+/telemetry/x", -1, 0)
		tr.Unsubscribe("devices/+/telemetry/x", -1)
	}
}

func BenchmarkMatchFilter(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		MatchFilter("devices/+/telemetry/#", "devices/42/telemetry/temp")
	}
}

func BenchmarkRetainedMatch(b *testing.B) {
	r := NewRetained[int]()
	for i := range 10000 {
		r.Set(fmt.Sprintf("devices/%d/status", i), i)
	}
	b.ReportAllocs()
	for b.Loop() {
		r.Match("devices/4/+", func(string, int) bool { return true })
	}
}

// BenchmarkSubscribeFullCache measures a wildcard Subscribe and Unsubscribe
// while the cache holds 4096 topics, all of which must be checked.
func BenchmarkSubscribeFullCache(b *testing.B) {
	tr, _ := benchTrie(b)
	for i := range 4096 {
		tr.Match(fmt.Sprintf("devices/%d/telemetry/%s", i/7, metrics[i%7]))
	}
	b.ReportAllocs()
	for b.Loop() {
		tr.Subscribe("devices/5/cmd/#", -1, 0)
		tr.Unsubscribe("devices/5/cmd/#", -1)
	}
}
