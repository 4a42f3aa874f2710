package meta

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// Network transport tuning: connections pooled per peer, and the I/O
// timeout of one RPC (raft's own TCP transport uses the same values).
const (
	transportMaxPool = 3
	transportTimeout = 10 * time.Second
)

// streamLayer is the raft.StreamLayer behind both the TCP and the TLS
// transport: it accepts on a listener it owns and dials peers with dial.
type streamLayer struct {
	net.Listener
	advertise net.Addr
	dial      func(ctx context.Context, network, addr string) (net.Conn, error)
}

var _ raft.StreamLayer = (*streamLayer)(nil)

// newStreamLayer listens on cfg.BindAddr (over TLS when cfg.TLS is set)
// and works out the advertised address: cfg.AdvertiseAddr, with port 0
// replaced by the port bound, or the address bound.
func newStreamLayer(cfg Config) (*streamLayer, error) {
	var ln net.Listener
	var err error
	if cfg.TLS != nil {
		ln, err = tls.Listen("tcp", cfg.BindAddr, cfg.TLS.Clone())
	} else {
		ln, err = net.Listen("tcp", cfg.BindAddr)
	}
	if err != nil {
		return nil, fmt.Errorf("meta: raft listen %s: %w", cfg.BindAddr, err)
	}
	bound := ln.Addr().(*net.TCPAddr)
	adv := bound
	if cfg.AdvertiseAddr != "" {
		host, port, err := splitAddr(cfg.AdvertiseAddr)
		if err == nil && port == 0 {
			port = bound.Port
		}
		if err == nil {
			adv, err = net.ResolveTCPAddr("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		}
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("meta: raft advertise address %q: %w", cfg.AdvertiseAddr, err)
		}
	}
	if adv.IP == nil || adv.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("meta: raft address %s is not advertisable; set advertise_addr", adv)
	}
	s := &streamLayer{Listener: ln, advertise: adv}
	if cfg.TLS != nil {
		d := &tls.Dialer{Config: cfg.TLS.Clone()}
		s.dial = d.DialContext // handshakes before returning
	} else {
		var d net.Dialer
		s.dial = d.DialContext
	}
	return s, nil
}

// Addr returns the advertised address.
func (s *streamLayer) Addr() net.Addr { return s.advertise }

// Dial connects to a peer's Raft address within timeout.
func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.dial(ctx, "tcp", string(addr))
}
