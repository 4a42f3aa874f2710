package bytesize

import "testing"

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"", 0, true},
		{"0", 0, true},
		{"1048576", 1 << 20, true},
		{"64KiB", 64 << 10, true},
		{"512MiB", 512 << 20, true},
		{"2GiB", 2 << 30, true},
		{"2 gib", 2 << 30, true},
		{" 3mib ", 3 << 20, true},
		{"2GB", 0, false},
		{"GiB", 0, false},
		{"-1", 0, false},
		{"1.5GiB", 0, false},
		{"9223372036854775807", 1<<63 - 1, true},
		{"9007199254740992GiB", 0, false}, // overflows int64
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Parse(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
