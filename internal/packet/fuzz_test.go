package packet

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// twoReads is an io.Reader that returns a and then b in separate reads, as
// a socket may split a packet anywhere.
type twoReads struct{ a, b []byte }

func (r *twoReads) Read(p []byte) (int, error) {
	src := &r.a
	if len(r.a) == 0 {
		src = &r.b
	}
	if len(*src) == 0 {
		return 0, io.EOF
	}
	n := copy(p, *src)
	*src = (*src)[n:]
	return n, nil
}

// FuzzDecode requires that decoding never panics, that a decoded packet
// survives encode→decode→encode byte for byte, that cp true and false agree,
// and that the same bytes split at a fuzzed offset decode the same.
func FuzzDecode(f *testing.F) {
	for i, g := range goldens {
		f.Add(g.version, g.raw, uint(i))
	}
	for i, m := range malformedInputs {
		f.Add(m.version, m.raw, uint(i))
	}
	f.Fuzz(func(t *testing.T, version byte, data []byte, split uint) {
		version = V31 + version%3
		// A Remaining Length beyond the input cannot complete; refusing it
		// spares allocating up to 256 MB per run.
		limit := len(data)
		p, err := ReadPacket(bytes.NewReader(data), version, limit)

		// Split at a fuzzed offset: the same outcome.
		at := int(split % uint(len(data)+1))
		p2, err2 := ReadPacket(&twoReads{data[:at], data[at:]}, version, limit)
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("split at %d: %v; whole: %v", at, err2, err)
		}
		checkHeaderSplit(t, data, at)
		if err != nil {
			return
		}
		v := encodeVersion(p, version)
		enc := p.AppendTo(nil, v)
		if enc2 := p2.AppendTo(nil, v); !bytes.Equal(enc, enc2) {
			t.Fatalf("split at %d encodes as % x; whole as % x", at, enc2, enc)
		}

		// Copying decode: the same packet.
		h, n, _ := ParseFixedHeader(data)
		pc, err := Decode(h, data[n:n+h.Remaining], version, true)
		if err != nil {
			t.Fatalf("cp=true: %v", err)
		}
		if encc := pc.AppendTo(nil, v); !bytes.Equal(enc, encc) {
			t.Fatalf("cp=true encodes as % x; cp=false as % x", encc, enc)
		}

		// Round trip: encode→decode→encode is stable.
		q, err := ReadPacket(bytes.NewReader(enc), v, 0)
		if err != nil {
			t.Fatalf("re-decoding % x (from % x): %v", enc, data, err)
		}
		if enc2 := q.AppendTo(nil, v); !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable: % x -> % x -> % x", data, enc, enc2)
		}
	})
}

// checkHeaderSplit checks ParseFixedHeader on the prefix data[:at]: it gives
// the same header as the whole data when the header fits, and ErrIncomplete
// otherwise.
func checkHeaderSplit(t *testing.T, data []byte, at int) {
	h, n, err := ParseFixedHeader(data)
	hp, np, errp := ParseFixedHeader(data[:at])
	switch {
	case errors.Is(errp, ErrIncomplete):
		if err == nil && at >= n {
			t.Fatalf("prefix of %d bytes incomplete; header has %d", at, n)
		}
	case errp != nil:
		if err == nil || err.Error() != errp.Error() {
			t.Fatalf("prefix of %d bytes: %v; whole: %v", at, errp, err)
		}
	default:
		if err != nil || h != hp || n != np {
			t.Fatalf("prefix of %d bytes: %+v, %d; whole: %+v, %d, %v", at, hp, np, h, n, err)
		}
	}
}
