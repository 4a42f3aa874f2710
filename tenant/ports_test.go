package tenant

import (
	"errors"
	"strings"
	"testing"
)

// portSpec is a tenant whose four listeners are mqtt, mqtts, ws and wss.
func portSpec(name string, mqtt, mqtts, ws, wss Port) Spec {
	return Spec{Name: name, Listeners: Listeners{MQTT: mqtt, MQTTS: mqtts, WS: ws, WSS: wss}}
}

// autos returns n tenants named prefix0.. with two auto listeners each
// (MQTT and WS by default, MQTTS and WSS off without TLS).
func autos(prefix string, n int) []Spec {
	out := make([]Spec, n)
	for i := range out {
		out[i] = portSpec(prefix+string(rune('a'+i)), "", "", "", "")
	}
	return out
}

func TestCheckPorts(t *testing.T) {
	cfg := HostConfig{PortMin: 20000, PortMax: 20009} // ten auto ports
	withTLS := portSpec("tls", "", "", "", "")
	withTLS.Listeners.TLS = &TLS{CertFile: "c.pem", KeyFile: "k.pem"}
	reserved := map[int]string{7000: "admin API", 7946: "Raft"}
	tests := []struct {
		name     string
		cfg      HostConfig
		spec     Spec
		others   []Spec
		reserved map[int]string
		want     error  // nil, ErrPortTaken or ErrAutoRangeFull
		mentions string // in the error
	}{
		{name: "free fixed port", spec: portSpec("a", "1883", "", "off", ""),
			others: []Spec{portSpec("b", "1884", "", "off", "")}},
		{name: "fixed port another tenant configures", spec: portSpec("a", "1883", "", "off", ""),
			others: []Spec{portSpec("b", "1883", "", "off", "")}, want: ErrPortTaken,
			mentions: `listeners.mqtt 1883: configured by tenant "b" (listeners.mqtt)`},
		{name: "on another listener of the other tenant", spec: portSpec("a", "off", "", "8083", ""),
			others: []Spec{portSpec("b", "off", "", "off", "8083")}, want: ErrPortTaken,
			mentions: `listeners.ws 8083: configured by tenant "b" (listeners.wss)`},
		{name: "the node's admin port", spec: portSpec("a", "7000", "", "off", ""), reserved: reserved, want: ErrPortTaken,
			mentions: "listeners.mqtt 7000: reserved for this node's admin API"},
		{name: "the node's Raft port", spec: portSpec("a", "off", "", "7946", ""), reserved: reserved, want: ErrPortTaken,
			mentions: "reserved for this node's Raft"},
		{name: "an update keeps its own port", spec: portSpec("a", "1883", "", "off", ""),
			others: []Spec{portSpec("a", "1883", "", "off", ""), portSpec("b", "1884", "", "off", "")}},
		{name: "an update keeps a port shared before the check",
			spec:   Spec{Name: "a", Listeners: Listeners{MQTT: "1883", WS: "off"}, Auth: Auth{AllowAnonymous: true}},
			others: []Spec{portSpec("a", "1883", "", "off", ""), portSpec("b", "1883", "", "off", "")}},
		{name: "an update moves onto another tenant's port", spec: portSpec("a", "1883", "", "off", ""),
			others: []Spec{portSpec("a", "1884", "", "off", ""), portSpec("b", "1883", "", "off", "")},
			want:   ErrPortTaken, mentions: `tenant "b"`},
		{name: "auto listeners fill the range exactly", spec: portSpec("new", "", "", "", ""), others: autos("t", 4)},
		{name: "auto listeners beyond the range", spec: portSpec("new", "auto", "", "off", ""), others: autos("t", 5),
			want: ErrAutoRangeFull, mentions: "11 auto listeners (1 of this tenant) need more than the 10 free ports of the range 20000-20009"},
		{name: "fixed ports in the range take auto ports", spec: portSpec("new", "", "", "", ""),
			others: append(autos("t", 4), portSpec("fixed", "20009", "", "off", "")),
			want:   ErrAutoRangeFull, mentions: "(10 ports, 1 of them fixed or reserved)"},
		{name: "reserved ports in the range take auto ports", spec: portSpec("new", "", "", "", ""),
			others: autos("t", 4), reserved: map[int]string{20000: "Raft"},
			want: ErrAutoRangeFull, mentions: "9 free ports"},
		{name: "a fixed port in a full range", spec: portSpec("new", "20005", "", "off", ""), others: autos("t", 5),
			want: ErrAutoRangeFull},
		{name: "no auto listener on an overfull range", spec: portSpec("new", "1883", "", "off", ""), others: autos("t", 6)},
		{name: "an update that needs no more of an overfull range",
			spec:   Spec{Name: "ta", Auth: Auth{AllowAnonymous: true}},
			others: autos("t", 6)},
		{name: "an update that needs more of an overfull range", spec: portSpec("ta", "", "", "", ""),
			others: append(autos("t", 6)[1:], portSpec("ta", "1883", "", "off", "")), want: ErrAutoRangeFull},
		{name: "secure listeners are off by default without TLS", cfg: HostConfig{PortMin: 20000, PortMax: 20001},
			spec: portSpec("a", "", "", "", "")},
		{name: "secure listeners count with the tenant's TLS", cfg: HostConfig{PortMin: 20000, PortMax: 20002},
			spec: withTLS, want: ErrAutoRangeFull, mentions: "4 auto listeners (4 of this tenant)"},
		{name: "secure listeners count with the Host's TLS",
			cfg:  HostConfig{PortMin: 20000, PortMax: 20002, TLS: &TLS{CertFile: "c.pem", KeyFile: "k.pem"}},
			spec: portSpec("a", "", "", "", ""), want: ErrAutoRangeFull},
		{name: "listeners off need nothing", cfg: HostConfig{PortMin: 20000, PortMax: 20000},
			spec: portSpec("a", "off", "off", "off", "off"), others: autos("t", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			if c.PortMin == 0 {
				c = cfg
			}
			err := c.CheckPorts(tt.spec, tt.others, tt.reserved)
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("CheckPorts = %v, want nil", err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("CheckPorts = %v, want %v", err, tt.want)
			case err != nil && !strings.Contains(err.Error(), tt.mentions):
				t.Fatalf("CheckPorts = %v, want it to mention %q", err, tt.mentions)
			}
		})
	}
}

// The error names the same other tenant whatever the order of others, and
// every conflicting listener.
func TestCheckPortsNamesEveryConflict(t *testing.T) {
	spec := portSpec("a", "1883", "", "8083", "")
	others := []Spec{portSpec("z", "8083", "", "off", ""), portSpec("c", "1883", "", "off", ""), portSpec("b", "off", "", "1883", "")}
	err := HostConfig{}.CheckPorts(spec, others, nil)
	if !errors.Is(err, ErrPortTaken) {
		t.Fatalf("CheckPorts = %v", err)
	}
	for _, want := range []string{`listeners.mqtt 1883: configured by tenant "b" (listeners.ws)`, `listeners.ws 8083: configured by tenant "z" (listeners.mqtt)`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("CheckPorts = %v, want it to mention %q", err, want)
		}
	}
}
