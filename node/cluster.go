package node

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"path/filepath"
	"sync"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/admin"
	"github.com/jmqx/jmqx/cluster"
	"github.com/jmqx/jmqx/meta"
)

// startCluster starts the data plane (unless Config.DisableCluster). Its
// secret, which encrypts gossip and authenticates links, is the admin token
// every node of a multi-node cluster already shares for --join: when the
// data plane listens beyond loopback and no token is set, the one in
// DataDir/admin-token is used (created if missing).
func (n *Node) startCluster(token string) error {
	if n.cfg.DisableCluster {
		return nil
	}
	secret := token
	if secret == "" && (!loopbackAddr(n.cfg.GossipAddr) || !loopbackAddr(n.cfg.ClusterAddr)) {
		var err error
		if secret, err = admin.LoadOrCreateToken(n.cfg.DataDir); err != nil {
			return fmt.Errorf("node: cluster secret: %w", err)
		}
		n.log.Info("the data plane listens beyond loopback: gossip is encrypted with a key derived from the admin token",
			zap.String("file", filepath.Join(n.cfg.DataDir, admin.TokenFile)))
	}
	label := cluster.DefaultLabel
	if secret != "" {
		sum := sha256.Sum256([]byte("jmqx cluster label\x00" + secret))
		label += "-" + hex.EncodeToString(sum[:6])
	}
	c, err := cluster.New(cluster.Config{
		Name: n.id, GossipAddr: n.cfg.GossipAddr, GossipAdvertise: n.cfg.GossipAdvertise,
		LinkAddr: n.cfg.ClusterAddr, LinkAdvertise: n.cfg.ClusterAdvertise,
		Secret: []byte(secret), Label: label, TLS: n.cfg.RaftTLS,
		Seeds: n.seeds, Allowed: n.peers.allowed,
	}, n.log)
	if err != nil {
		return fmt.Errorf("node: data plane: %w", err)
	}
	n.cluster = c
	n.gossipAdv, n.clusterAdv = c.GossipAddr(), c.LinkAddr()
	n.peers.setOwn(n.cfg.RaftAdvertise, n.gossipAdv, n.clusterAdv)
	return nil
}

// seeds returns the other members' gossip addresses, as the control plane
// records them.
func (n *Node) seeds() []cluster.Seed {
	var out []cluster.Seed
	for _, m := range n.store.State().MemberList() {
		if m.ID != n.id && m.GossipAddr != "" {
			out = append(out, cluster.Seed{Name: m.ID, GossipAddr: m.GossipAddr})
		}
	}
	return out
}

// peerIPs is the set of addresses the data plane hears: every address in
// the members' records and this node's own, recomputed when the control
// plane's state changes.
type peerIPs struct {
	n     *Node
	mu    sync.Mutex
	own   []string // this node's addresses
	index uint64
	ips   map[string]bool
}

// setOwn records this node's own addresses.
func (p *peerIPs) setOwn(addrs ...string) {
	p.mu.Lock()
	p.own, p.ips = addrs, nil
	p.mu.Unlock()
}

// allowed reports whether ip belongs to a member.
func (p *peerIPs) allowed(ip net.IP) bool {
	if p.n.store == nil {
		return false
	}
	st := p.n.store.State()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ips == nil || p.index != st.Index {
		p.ips, p.index = memberIPs(st, p.own), st.Index
	}
	return p.ips[ip.String()]
}

// memberIPs collects the IP addresses of every member record and of own.
func memberIPs(st meta.State, own []string) map[string]bool {
	ips := map[string]bool{}
	add := func(addr string) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return
		}
		if ip := net.ParseIP(host); ip != nil {
			ips[ip.String()] = true
			return
		}
		if addrs, err := net.LookupIP(host); err == nil { // a name in AdminAddr
			for _, ip := range addrs {
				ips[ip.String()] = true
			}
		}
	}
	for _, m := range st.MemberList() {
		for _, a := range []string{m.RaftAddr, m.AdminAddr, m.GossipAddr, m.ClusterAddr} {
			add(a)
		}
	}
	for _, a := range own {
		add(a)
	}
	return ips
}
