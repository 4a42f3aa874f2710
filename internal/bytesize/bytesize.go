// Package bytesize reads byte counts as the command line gives them:
// "1048576", "64KiB", "2 GiB".
package bytesize

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// units are the suffixes Parse accepts.
var units = []struct {
	suffix string
	bytes  int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}}

// Parse reads a byte count: a non-negative decimal integer, optionally
// followed by KiB, MiB or GiB (in any case, with or without a space). The
// empty string is 0.
func Parse(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	mult := int64(1)
	for _, u := range units {
		if n := len(s) - len(u.suffix); n >= 0 && strings.EqualFold(s[n:], u.suffix) {
			s, mult = strings.TrimSpace(s[:n]), u.bytes
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("want a number of bytes, optionally followed by KiB, MiB or GiB (e.g. 2GiB)")
	}
	if n > math.MaxInt64/mult {
		return 0, errors.New("too large")
	}
	return n * mult, nil
}
