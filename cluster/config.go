package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"
)

// Config configures a Cluster. The zero value of every field but Name,
// GossipAddr and LinkAddr means the default in its comment.
type Config struct {
	// Name is this node's name in memberlist: its Raft node ID. Required.
	Name string
	// GossipAddr is the memberlist "host:port" (TCP and UDP). Required;
	// port 0 picks a free one.
	GossipAddr string
	// GossipAdvertise is the gossip address the other nodes reach, a
	// specific IP. Default GossipAddr (with the port bound).
	GossipAdvertise string
	// LinkAddr is the "host:port" the forwarding links are accepted at.
	// Required; port 0 picks a free one.
	LinkAddr string
	// LinkAdvertise is the link address the other nodes dial, carried in
	// this node's gossip metadata. Default LinkAddr (with the port bound).
	LinkAdvertise string
	// Secret authenticates the links (an HMAC over a challenge) and, when
	// not empty, is the key gossip is encrypted with (AES-256-GCM, the
	// key derived from it). Every node needs the same one. Empty: links
	// prove nothing and gossip is in clear, which suits nodes that listen
	// on loopback only.
	Secret []byte
	// Label labels every gossip packet (memberlist's Label): nodes of
	// another cluster are ignored. Default "jmqx".
	Label string
	// TLS, when set, protects the links (server and client side alike).
	TLS *tls.Config
	// Seeds returns the other members the control plane knows, to join
	// and re-join; nil: none.
	Seeds func() []Seed
	// Allowed reports whether a gossip packet or stream, or a link, from
	// ip may be heard; nil: every address.
	Allowed func(ip net.IP) bool
	// SubackWait bounds how long a new route waits for every live peer to
	// acknowledge it before the SUBACK goes anyway (counted). Default 2s.
	SubackWait time.Duration
	// ForwardWait bounds how long a publisher's PUBACK or PUBREC waits for
	// a peer to acknowledge a forward (counted when it passes; the
	// forward stays queued for the peer). Default 2s.
	ForwardWait time.Duration
	// ClaimWait bounds how long each step of a session claim (a CONNECT
	// taking its client id's session from the node holding it) waits for
	// a live peer's answer before going on without it (counted as
	// claim_timeouts); the take step waits up to twice as long, as the
	// holder first fences its other peers (waiting up to ClaimWait for
	// each). Default 2s.
	ClaimWait time.Duration
	// MaxPeerBytes bounds the forwards queued for, or unacknowledged by,
	// one peer; past it new forwards to that peer are dropped, counted
	// and logged. Default 64 MiB.
	MaxPeerBytes int64
	// MaxFrameBytes bounds one frame read from a link; a larger one ends
	// the link. Default 64 MiB.
	MaxFrameBytes int
	// RejoinInterval is how often the Seeds that memberlist does not see
	// alive are joined again. Default 5s.
	RejoinInterval time.Duration
	// PushPullInterval is memberlist's full state exchange, which carries
	// the route digests. Default 15s.
	PushPullInterval time.Duration
	// RetainTombstoneTTL is how long a cleared retained message is
	// remembered, so that an older set from a node that was partitioned
	// does not bring it back. Default 1h.
	RetainTombstoneTTL time.Duration
	// GossipToTheDeadTime is memberlist's (how long a dead node is still
	// gossiped to). Default memberlist's LAN default, 30s.
	GossipToTheDeadTime time.Duration
	// Dial dials a link; default net.Dialer with a 5s timeout. Tests wrap
	// it to inject faults.
	Dial func(addr string) (net.Conn, error)
	// Listen wraps the link listener; default none. Tests use it to inject
	// faults.
	Listen func(net.Listener) net.Listener
}

// Seed is a member the control plane knows.
type Seed struct {
	// Name is the member's node ID.
	Name string
	// GossipAddr is its advertised gossip address.
	GossipAddr string
}

// Defaults of Config.
const (
	DefaultSubackWait       = 2 * time.Second
	DefaultForwardWait      = 2 * time.Second
	DefaultClaimWait        = 2 * time.Second
	DefaultMaxPeerBytes     = 64 << 20
	DefaultMaxFrameBytes    = 64 << 20
	DefaultRejoinInterval   = 5 * time.Second
	DefaultPushPullInterval = 15 * time.Second
	DefaultLabel            = "jmqx"
	// DefaultRetainTombstoneTTL is Config.RetainTombstoneTTL's default.
	DefaultRetainTombstoneTTL = time.Hour
)

func (c *Config) setDefaults() {
	if c.ClaimWait == 0 {
		c.ClaimWait = DefaultClaimWait
	}
	if c.SubackWait == 0 {
		c.SubackWait = DefaultSubackWait
	}
	if c.ForwardWait == 0 {
		c.ForwardWait = DefaultForwardWait
	}
	if c.MaxPeerBytes == 0 {
		c.MaxPeerBytes = DefaultMaxPeerBytes
	}
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if c.RejoinInterval == 0 {
		c.RejoinInterval = DefaultRejoinInterval
	}
	if c.PushPullInterval == 0 {
		c.PushPullInterval = DefaultPushPullInterval
	}
	if c.Label == "" {
		c.Label = DefaultLabel
	}
	if c.RetainTombstoneTTL == 0 {
		c.RetainTombstoneTTL = DefaultRetainTombstoneTTL
	}
	if c.Dial == nil {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: localTCPAddr(c.LinkAddr)}
		c.Dial = func(addr string) (net.Conn, error) { return d.Dial("tcp", addr) }
	}
}

// validate reports the invalid fields of c (after defaults).
func (c *Config) validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("cluster: a node name is required"))
	}
	for _, a := range []struct{ name, v string }{{"gossip address", c.GossipAddr}, {"link address", c.LinkAddr}} {
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			errs = append(errs, fmt.Errorf("cluster: %s %q: %w", a.name, a.v, err))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"suback wait", c.SubackWait}, {"forward wait", c.ForwardWait}, {"rejoin interval", c.RejoinInterval}, {"push/pull interval", c.PushPullInterval}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("cluster: %s %s: must not be negative", d.name, d.v))
		}
	}
	if c.MaxPeerBytes < 0 || c.MaxFrameBytes < 0 {
		errs = append(errs, errors.New("cluster: byte limits must not be negative"))
	}
	return errors.Join(errs...)
}

// localTCPAddr is the address outgoing connections are made from: the
// host of bind when it is a specific IP (so that the peers, which hear only
// the members' addresses, see that one), else nil (the kernel's choice).
func localTCPAddr(bind string) *net.TCPAddr {
	host, _, err := net.SplitHostPort(bind)
	if err != nil {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsUnspecified() {
		return nil
	}
	return &net.TCPAddr{IP: ip}
}
