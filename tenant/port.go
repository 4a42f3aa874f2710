package tenant

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Number returns the port number of a fixed port, and false for the empty
// port, PortAuto, PortOff and anything that is not a canonical decimal
// number in 1..65535.
func (p Port) Number() (int, bool) {
	s := string(p)
	if s == "" || len(s) > 5 || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, false
	}
	return n, true
}

// valid reports whether p is the empty port, PortAuto, PortOff or a port
// number.
func (p Port) valid() bool {
	if p == "" || p == PortAuto || p == PortOff {
		return true
	}
	_, ok := p.Number()
	return ok
}

// MarshalJSON writes a fixed port as a JSON number and any other value as a
// string.
func (p Port) MarshalJSON() ([]byte, error) {
	if n, ok := p.Number(); ok {
		return strconv.AppendInt(nil, int64(n), 10), nil
	}
	return json.Marshal(string(p))
}

// UnmarshalJSON accepts a JSON number in 1..65535, or a string: "",
// PortAuto, PortOff or a decimal port number such as "1883".
func (p *Port) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil // like the standard types: null leaves the value alone
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("tenant: port: %w", err)
		}
		if !Port(s).valid() {
			return fmt.Errorf("tenant: port %q: must be %q, %q, empty or 1..65535", s, PortAuto, PortOff)
		}
		*p = Port(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("tenant: port %s: must be a number or a string: %w", b, err)
	}
	v, err := strconv.ParseInt(n.String(), 10, 32)
	if err != nil || v < 1 || v > 65535 {
		return fmt.Errorf("tenant: port %s: must be an integer in 1..65535", n)
	}
	*p = Port(strconv.FormatInt(v, 10))
	return nil
}
