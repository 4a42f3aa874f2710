package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Forwarding of writes from a follower to the leader.
const (
	// forwardTimeout bounds one forwarded request.
	forwardTimeout = 10 * time.Second
	// forwardedHeader marks a forwarded request, so that two nodes that
	// each think the other leads do not bounce a request forever. Its
	// value is the forwarding node's ID (any non-empty value marks it).
	forwardedHeader = "X-Jmqx-Forwarded"
)

// errNoLeader answers a write when no leader is known. It goes with a
// Retry-After header (see writeNoLeader): nothing was written, so the
// Client may send the request again.
var errNoLeader = errorf(http.StatusServiceUnavailable, "no leader elected yet; retry shortly")

// noLeaderRetryAfter is the Retry-After, in seconds, of errNoLeader.
const noLeaderRetryAfter = "1"

// writeNoLeader answers errNoLeader with its Retry-After header.
func writeNoLeader(w http.ResponseWriter) {
	w.Header().Set("Retry-After", noLeaderRetryAfter)
	writeError(w, errNoLeader)
}

// write wraps a write handler: on the leader it runs next; on a follower
// it relays the request to the leader's admin API and its answer back.
func (s *Server) write(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.backend.IsLeader() {
			next.ServeHTTP(w, r)
			return
		}
		if r.Header.Get(forwardedHeader) != "" {
			// The sender believed we lead; we believe otherwise.
			writeNoLeader(w)
			return
		}
		leader := s.backend.LeaderAdminAddr()
		if leader == "" {
			writeNoLeader(w)
			return
		}
		if err := s.forward(w, r, leader); err != nil {
			writeError(w, err)
			return
		}
		noteRelayed(r, leader)
	})
}

// forward sends r to the admin API at leader and copies the answer to w.
// It returns an error only when nothing has been written yet.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, leader string) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		return bodyError(err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), forwardTimeout)
	defer cancel()
	target := s.peerURL(leader) + r.URL.RequestURI()
	req, err := http.NewRequestWithContext(ctx, r.Method, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("admin: forward %s %s to leader %s: %w", r.Method, r.URL.Path, leader, err)
	}
	for _, h := range []string{"Content-Type", "Accept", "If-Match"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	if auth := s.peerAuthorization(r); auth != "" {
		req.Header.Set("Authorization", auth)
	}
	// The leader's audit line names this node and the caller.
	req.Header.Set(forwardedHeader, forwardedBy(s.backend.NodeID()))
	req.Header.Set(forwardedForHeader, r.RemoteAddr)

	resp, err := s.peers.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return fmt.Errorf("admin: forward to leader %s: %w", leader, err)
		}
		return errorf(http.StatusServiceUnavailable,
			"cannot reach the leader's admin API at %s: %v; retry shortly", leader, unwrapURLError(err))
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Allow", "WWW-Authenticate", "X-Content-Type-Options", "Retry-After"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	// Headers are sent; a copy error is a broken connection either way.
	_, _ = io.Copy(w, resp.Body)
	return nil
}

// forwardedBy is the value of forwardedHeader a node sends: its ID, or
// "1" when it has none that a header can carry.
func forwardedBy(nodeID string) string {
	if nodeID == "" || strings.ContainsFunc(nodeID, func(r rune) bool { return r < 0x20 || r >= 0x7f }) {
		return "1"
	}
	return nodeID
}

// peerAuthorization is the Authorization header to send to another node:
// the caller's own, else this node's token (the cluster shares one).
func (s *Server) peerAuthorization(r *http.Request) string {
	if auth := r.Header.Get("Authorization"); auth != "" {
		return auth
	}
	if s.cfg.Token != "" {
		return "Bearer " + s.cfg.Token
	}
	return ""
}
