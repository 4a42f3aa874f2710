package node

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// The addresses a node advertises to the other members: where they (and
// the writes a follower forwards to the leader, and the health probes of
// `cluster members`) reach its admin API, its Raft transport and, when its
// data plane is on, its gossip and its node-to-node links. A bound
// address is right only when it is specific: on separate machines, a
// wildcard bind (0.0.0.0, ::) names every member at once.

// wildcardHost reports whether a listen host binds every interface.
func wildcardHost(host string) bool {
	if host == "" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsUnspecified()
}

// hostOf is the host of a "host:port", "" when it has none or is not one.
func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return host
}

// machineHost is the host the tenants' listeners are advertised at, when
// configured: Host.AdvertiseHost, else Host.BindHost when it is specific;
// "" when neither is (the tenants then advertise the machine's name,
// which the node does not guess with).
func (c Config) machineHost() string {
	if c.Host.AdvertiseHost != "" {
		return c.Host.AdvertiseHost
	}
	if !wildcardHost(c.Host.BindHost) {
		return c.Host.BindHost
	}
	return ""
}

// adminAdvertiseHost is the host of the admin address this node
// advertises (see Config.AdminAdvertise), known before the API is bound;
// "" when the node advertises its wildcard bind.
func (c Config) adminAdvertiseHost() string {
	switch {
	case c.AdminAdvertise != "":
		return hostOf(c.AdminAdvertise)
	case !wildcardHost(hostOf(c.AdminAddr)):
		return hostOf(c.AdminAddr)
	default:
		return c.machineHost()
	}
}

// adminAdvertiseAddr is the admin address this node advertises, given the
// address its API is bound to (see Config.AdminAdvertise).
func (c Config) adminAdvertiseAddr(bound string) string {
	_, boundPort, err := net.SplitHostPort(bound)
	if err != nil {
		return bound
	}
	switch {
	case c.AdminAdvertise != "":
		host, port, err := net.SplitHostPort(c.AdminAdvertise)
		if err != nil {
			return c.AdminAdvertise // refused by Validate
		}
		if port == "0" {
			port = boundPort
		}
		return net.JoinHostPort(host, port)
	case !wildcardHost(hostOf(c.AdminAddr)), c.machineHost() == "":
		return bound
	default:
		return net.JoinHostPort(c.machineHost(), boundPort)
	}
}

// advertiseDefault is the default advertised address of a transport
// bound to bind (RaftAdvertise, GossipAdvertise, ClusterAdvertise): empty
// (the address bound) unless bind binds every interface and machineHost
// is an IP address, which it then takes with bind's port (0: the port
// bound).
func (c Config) advertiseDefault(bind string) string {
	host, port, err := net.SplitHostPort(bind)
	if err != nil || !wildcardHost(host) {
		return ""
	}
	if h := c.machineHost(); h != "" {
		if ip, err := netip.ParseAddr(h); err == nil && !ip.IsUnspecified() {
			return net.JoinHostPort(h, port)
		}
	}
	return ""
}

// validateAdvertise reports what is wrong with the advertised addresses
// (after defaults).
func (c Config) validateAdvertise() []error {
	var errs []error
	if c.AdminAdvertise != "" {
		host, err := splitPort(c.AdminAdvertise)
		if err == nil && wildcardHost(host) {
			err = errors.New("want the host (IP address or name) the other members reach this node at, not a wildcard")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("node: admin advertise address %q: %w", c.AdminAdvertise, err))
		}
	}
	if err := c.wildcardAdvertise("raft", "Raft", c.RaftAddr, c.RaftAdvertise); err != nil {
		errs = append(errs, err)
	}
	if c.DisableCluster {
		return errs
	}
	for _, t := range []struct{ name, addr, advertise string }{
		{"gossip", c.GossipAddr, c.GossipAdvertise},
		{"cluster", c.ClusterAddr, c.ClusterAdvertise},
	} {
		if _, err := splitPort(t.addr); err != nil {
			errs = append(errs, fmt.Errorf("node: %s address %q: %w", t.name, t.addr, err))
			continue
		}
		if t.advertise != "" {
			host, err := splitPort(t.advertise)
			if err == nil {
				if ip, perr := netip.ParseAddr(host); perr != nil || ip.IsUnspecified() {
					err = errors.New("want a specific IP address")
				}
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("node: %s advertise address %q: %w", t.name, t.advertise, err))
			}
		}
		if err := c.wildcardAdvertise(t.name, t.name, t.addr, t.advertise); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// wildcardAdvertise is the refusal of a transport bound to every
// interface with no address to advertise: the other members could not
// dial it. name is the transport's flag prefix ("raft" for --raft-addr and
// --raft-advertise), title its name in a sentence; nil when addr is
// specific or advertise is set.
func (c Config) wildcardAdvertise(name, title, addr, advertise string) error {
	if advertise != "" || !hasWildcardHost(addr) {
		return nil
	}
	msg := fmt.Sprintf("set the %s advertise address (--%s-advertise) to an IP address the other members reach this node at", title, name)
	if h := c.machineHost(); h != "" {
		msg += fmt.Sprintf(", or an IP address as advertise host (--advertise-host; %q is not one)", h)
	} else {
		msg += ", or an IP address as advertise host (--advertise-host)"
	}
	return fmt.Errorf("node: %s address %q binds every interface: %s", name, addr, msg)
}

// splitPort splits a "host:port" whose port is 0 to 65535 and returns its
// host.
func splitPort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return "", fmt.Errorf("port %q", port)
	}
	return host, nil
}

// hasWildcardHost reports whether a "host:port" binds every interface.
func hasWildcardHost(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && wildcardHost(host)
}

// multiNodeWildcardError is the refusal of a node that would advertise
// its admin API at a wildcard address in a cluster of several nodes,
// where the others cannot reach it there (a follower would forward
// writes to itself).
func multiNodeWildcardError(adminAddr string) error {
	return fmt.Errorf("node: the admin API binds every interface (%s) and no address to advertise is set: "+
		"the other members could not reach it; set --admin-advertise HOST:PORT or --advertise-host HOST "+
		"(Config.AdminAdvertise or Host.AdvertiseHost)", adminAddr)
}
