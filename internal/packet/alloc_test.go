package packet

import "testing"

// publishRaw is the v5 PUBLISH of the golden table with every PUBLISH
// property, user properties and subscription identifiers included.
func publishRaw(tb testing.TB) (FixedHeader, []byte) {
	for _, g := range goldens {
		if g.name == "publish/v5/props" {
			h, n, err := ParseFixedHeader(g.raw)
			if err != nil {
				tb.Fatal(err)
			}
			return h, g.raw[n:]
		}
	}
	tb.Fatal("no publish/v5/props golden")
	return FixedHeader{}, nil
}

func TestDecodePublishAllocs(t *testing.T) {
	h, body := publishRaw(t)
	for _, version := range []byte{V311, V5} {
		var p Publish
		if err := p.Decode(h.Flags, body, version, false); err != nil && version == V5 {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(100, func() {
			_ = p.Decode(h.Flags, body, version, false)
		})
		if allocs != 0 {
			t.Errorf("level %d: (*Publish).Decode allocates %v times; want 0", version, allocs)
		}
	}
}

func TestAppendPublishAllocs(t *testing.T) {
	h, body := publishRaw(t)
	var p Publish
	if err := p.Decode(h.Flags, body, V5, false); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 512)
	for _, version := range []byte{V311, V5} {
		allocs := testing.AllocsPerRun(100, func() {
			buf = p.AppendTo(buf[:0], version)
		})
		if allocs != 0 {
			t.Errorf("level %d: (*Publish).AppendTo allocates %v times; want 0", version, allocs)
		}
	}
}

func TestAckRoundTripAllocs(t *testing.T) {
	buf := make([]byte, 0, 64)
	var a Ack
	allocs := testing.AllocsPerRun(100, func() {
		a = Ack{Type: PUBACK, PacketID: 9}
		buf = a.AppendTo(buf[:0], V5)
		_ = a.Decode(PUBACK, 0, buf[2:], V5, false)
	})
	if allocs != 0 {
		t.Errorf("PUBACK round trip allocates %v times; want 0", allocs)
	}
}

func BenchmarkDecodePublish(b *testing.B) {
	h, body := publishRaw(b)
	var p Publish
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := p.Decode(h.Flags, body, V5, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendPublish(b *testing.B) {
	h, body := publishRaw(b)
	var p Publish
	if err := p.Decode(h.Flags, body, V5, false); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		buf = p.AppendTo(buf[:0], V5)
	}
}

// BenchmarkDecodePublishPlain decodes a 3.1.1 QoS 1 PUBLISH with a 64-byte
// payload: the common case.
func BenchmarkDecodePublishPlain(b *testing.B) {
	body := bs(0x00, 13, "sensors/1/tmp", 0x00, 1, string(make([]byte, 64)))
	var p Publish
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := p.Decode(0x02, body, V311, false); err != nil {
			b.Fatal(err)
		}
	}
}
