package broker

import (
	"errors"

	"go.uber.org/zap"
)

// Run-time control of a broker by the application embedding it (package
// tenant uses it to apply changes live): ending chosen connections and
// re-checking subscriptions after an access-control change. SetConfig is
// in broker.go.

// ErrDisconnectedByServer is the OnConnectionLost cause for connections
// ended by Broker.Disconnect.
var ErrDisconnectedByServer = errors.New("broker: disconnected by the server")

// Disconnect ends every connected client for which match returns true and
// returns how many it ended. v5 clients get DISCONNECT with rc (and a
// Server Reference when ref is not empty, as UseAnotherServer 0x9C and
// ServerMoved 0x9D call for); 3.x clients are closed. Their sessions
// persist as they asked. match is called with the broker's lock held, so it
// must be quick and must not call the broker; it must not keep its argument.
func (b *Broker) Disconnect(match func(*ClientInfo) bool, rc ReasonCode, ref string) int {
	hit := b.matching(match)
	for _, c := range hit {
		b.log.Info("disconnecting client", zap.String("client", c.info.ClientID), zap.String("username", c.info.Username),
			zap.Stringer("reason", rc), zap.String("server_reference", ref))
		c.kickTo(rc, ref, ErrDisconnectedByServer)
	}
	return len(hit)
}

// CountClients returns how many connected clients match (as in
// Disconnect).
func (b *Broker) CountClients(match func(*ClientInfo) bool) int {
	return len(b.matching(match))
}

// matching returns the connected clients for which match returns true.
func (b *Broker) matching(match func(*ClientInfo) bool) []*client {
	b.mu.Lock()
	defer b.mu.Unlock()
	var hit []*client
	for c := range b.clients {
		if c.connected.Load() && match(&c.info) {
			hit = append(hit, c)
		}
	}
	return hit
}

// RecheckSubscriptions asks the Authorizers again about every subscription
// of every session, connected or not, and removes the ones now refused (and
// asks ReadAuthorizers again whether the others need per-message checks), as
// after an access-control change (SubscriptionObservers see them as
// unsubscribed). It returns how many it removed. Messages already queued
// for a session stay queued.
func (b *Broker) RecheckSubscriptions() int {
	hs := b.hooks.Load()
	if len(hs.authz) == 0 {
		return 0
	}
	b.mu.Lock()
	sessions := make([]*session, 0, len(b.sessions))
	for _, s := range b.sessions {
		sessions = append(sessions, s)
	}
	b.mu.Unlock()
	removed := 0
	for _, s := range sessions {
		s.mu.Lock()
		info := s.info
		var refused []string
		var rechecked map[string]subOpts // read checks turned on or off
		if info != nil && !s.ended {
			for f, opts := range s.subs {
				if !canSubscribe(hs, info, f) {
					refused = append(refused, f)
					continue
				}
				if cr := checkReads(hs, info, f); cr != opts.checkRead {
					opts.checkRead = cr
					s.subs[f] = opts
					if rechecked == nil {
						rechecked = make(map[string]subOpts)
					}
					rechecked[f] = opts
				}
			}
			for _, f := range refused {
				delete(s.subs, f)
				b.releaseSubscription(s, f)
			}
			if len(refused)+len(rechecked) > 0 {
				s.changed()
			}
		}
		s.mu.Unlock()
		for f, opts := range rechecked {
			b.subscribeTrie(f, s, opts)
			s.mu.Lock()
			cur, ok := s.subs[f]
			ok = ok && !s.ended
			s.mu.Unlock()
			if !ok { // unsubscribed meanwhile: undo
				b.unsubscribeTrie(f, s)
			} else if cur != opts { // changed meanwhile: the session's options win
				b.subscribeTrie(f, s, cur)
			}
		}
		for _, f := range refused {
			b.unsubscribeTrie(f, s)
			b.log.Info("subscription removed: no longer authorized", zap.String("client", s.id), zap.String("filter", f))
			for _, o := range hs.subscribe {
				o.OnUnsubscribe(info, f)
			}
		}
		removed += len(refused)
	}
	return removed
}

// canSubscribe asks every Authorizer whether info may subscribe to filter.
func canSubscribe(hs *hookSet, info *ClientInfo, filter string) bool {
	for _, a := range hs.authz {
		if !a.CanSubscribe(info, filter) {
			return false
		}
	}
	return true
}
