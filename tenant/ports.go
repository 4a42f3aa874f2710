package tenant

import (
	"errors"
	"fmt"
	"sort"
)

// ErrPortTaken wraps CheckPorts' refusal of a fixed port that another
// tenant configures or that the node uses itself.
var ErrPortTaken = errors.New("tenant: port taken")

// ErrAutoRangeFull wraps CheckPorts' refusal of "auto" listeners that the
// Host's port range cannot hold besides every other tenant's.
var ErrAutoRangeFull = errors.New("tenant: auto port range full")

// CheckPorts reports whether spec's listeners can have ports of their own
// on a node whose Host has configuration c, beside the tenants others (the
// specs the control plane holds; an entry named like spec is spec's
// current version and is not another tenant). reserved maps the ports the
// node uses itself (admin API, Raft, cluster) to that use, for the error.
// It is pure: it reads its arguments only, so the control plane calls it
// before accepting a write, and refuses the write on an error. It refuses:
//
//   - a fixed port that another tenant configures, on any of its four
//     listeners, or that is in reserved; the error wraps ErrPortTaken and
//     names the other tenant and its listener, or the node's use;
//   - "auto" listeners the port range PortMin-PortMax cannot hold: the
//     auto listeners of all tenants (others and spec) must not outnumber
//     the ports of the range less those that any tenant configures as
//     fixed or that are reserved. The error wraps ErrAutoRangeFull and
//     gives the figures.
//
// A listener left empty counts as "auto" for MQTT and WS, and for MQTTS
// and WSS when the spec has its own TLS or c.TLS is set (as on the Host;
// other nodes may differ, and a node that cannot serve a tenant reports it,
// see Host.Failed). So that state written before these checks cannot brick
// a tenant, a conflict spec's current version already has is not refused
// (an update that keeps a shared port is accepted), nor is a full range
// when spec needs no more of it than its current version (or, for a new
// tenant, when it needs none). CheckPorts does not validate spec: call
// Validate first.
func (c HostConfig) CheckPorts(spec Spec, others []Spec, reserved map[int]string) error {
	c.setDefaults()
	var current *Spec
	rest := make([]Spec, 0, len(others))
	for i := range others {
		if others[i].Name == spec.Name {
			current = &others[i]
		} else {
			rest = append(rest, others[i])
		}
	}
	var had map[int]bool // the fixed ports of spec's current version
	if current != nil {
		had = current.fixedPorts()
	}
	// Others sorted by name, so that the error names the same tenant
	// whatever the order of others.
	sort.Slice(rest, func(i, j int) bool { return rest[i].Name < rest[j].Name })
	var errs []error
	for k := range numKinds {
		port, auto := c.listenerPort(spec, kind(k))
		if auto || port == 0 || had[port] {
			continue
		}
		if use, ok := reserved[port]; ok {
			errs = append(errs, fmt.Errorf("tenant %q: listeners.%s %d: reserved for this node's %s: %w", spec.Name, kind(k), port, use, ErrPortTaken))
			continue
		}
		for _, o := range rest {
			if theirs, found := o.configures(port); found {
				errs = append(errs, fmt.Errorf("tenant %q: listeners.%s %d: configured by tenant %q (listeners.%s): %w", spec.Name, kind(k), port, o.Name, theirs, ErrPortTaken))
				break
			}
		}
	}
	after := c.autoDemand(append(rest, spec), reserved)
	before := c.autoDemand(rest, reserved)
	if current != nil {
		before = c.autoDemand(append(rest, *current), reserved)
	}
	if short := after.shortfall(); short > 0 && short > before.shortfall() {
		errs = append(errs, fmt.Errorf("tenant %q: listeners: %d auto listeners (%d of this tenant) need more than the %d free ports of the range %d-%d (%d ports, %d of them fixed or reserved): %w",
			spec.Name, after.auto, c.autoCount(spec), after.free(), c.PortMin, c.PortMax, after.size, after.blocked, ErrAutoRangeFull))
	}
	return errors.Join(errs...)
}

// autoDemand is what a set of tenants asks of the auto port range.
type autoDemand struct {
	size    int // ports in the range
	blocked int // of them, fixed in some spec or reserved
	auto    int // auto listeners of all the specs
}

func (d autoDemand) free() int      { return max(d.size-d.blocked, 0) }
func (d autoDemand) shortfall() int { return max(d.auto-d.free(), 0) }

// autoDemand counts the auto listeners of specs against c's range.
func (c HostConfig) autoDemand(specs []Spec, reserved map[int]string) autoDemand {
	d := autoDemand{size: c.PortMax - c.PortMin + 1}
	blocked := map[int]bool{}
	for p := range reserved {
		if p >= c.PortMin && p <= c.PortMax {
			blocked[p] = true
		}
	}
	for _, s := range specs {
		d.auto += c.autoCount(s)
		for p := range s.fixedPorts() {
			if p >= c.PortMin && p <= c.PortMax {
				blocked[p] = true
			}
		}
	}
	d.blocked = len(blocked)
	return d
}

// autoCount is the number of s's listeners that take a port of the range.
func (c HostConfig) autoCount(s Spec) int {
	n := 0
	for k := range numKinds {
		if _, auto := c.listenerPort(s, kind(k)); auto {
			n++
		}
	}
	return n
}

// listenerPort says where listener k of s binds on a Host of
// configuration c: a fixed port, or auto, or neither (off). A secure
// listener left empty is auto when TLS material is available, as in want.
func (c HostConfig) listenerPort(s Spec, k kind) (port int, auto bool) {
	p := s.Listeners.port(k)
	switch p {
	case PortOff:
		return 0, false
	case PortAuto:
		return 0, true
	case "":
		return 0, !k.secure() || s.Listeners.TLS != nil || c.TLS != nil
	}
	n, _ := p.Number()
	return n, false
}

// port returns the configured port of listener k.
func (l *Listeners) port(k kind) Port {
	switch k {
	case kindMQTT:
		return l.MQTT
	case kindMQTTS:
		return l.MQTTS
	case kindWS:
		return l.WS
	default:
		return l.WSS
	}
}

// fixedPorts returns the fixed ports s configures, on any listener.
func (s Spec) fixedPorts() map[int]bool {
	m := map[int]bool{}
	for k := range numKinds {
		if n, ok := s.Listeners.port(kind(k)).Number(); ok {
			m[n] = true
		}
	}
	return m
}

// configures returns the listener of s whose fixed port is port, and
// whether there is one.
func (s Spec) configures(port int) (kind, bool) {
	for k := range numKinds {
		if n, ok := s.Listeners.port(kind(k)).Number(); ok && n == port {
			return kind(k), true
		}
	}
	return 0, false
}
