package tenant

import (
	"fmt"
	"sort"
	"strings"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/internal/packet"
)

// A Host owns, on behalf of each tenant, the fixed ports of its spec: no
// other tenant's listener takes them, neither a listener moved off a busy
// port nor an auto one, nor an auto one replaying its port hint. The
// owners are known before any listener binds, because Reconcile records
// every spec first, so the order tenants start in does not matter.

// setOwners recomputes h.owners from h.specs, and warns (once) of a port
// several specs configure: state written before CheckPorts refused it.
// h.mu held.
func (h *Host) setOwners() {
	claims := make(map[int][]string)
	for name, s := range h.specs {
		for p := range s.fixedPorts() {
			claims[p] = append(claims[p], name)
		}
	}
	owners := make(map[int]string, len(claims))
	for p, names := range claims {
		if len(names) == 1 {
			owners[p] = names[0]
			continue
		}
		sort.Strings(names)
		owners[p] = h.pickOwner(p, names)
		msg := fmt.Sprintf("%s: %s", strings.Join(names, ","), owners[p])
		if h.shared[p] != msg {
			h.shared[p] = msg
			h.log.Warn("port configured by several tenants; one serves it, the others move: change their ports",
				zap.Int("port", p), zap.Strings("tenants", names), zap.String("served_by", owners[p]))
		}
	}
	for p := range h.shared {
		if len(claims[p]) < 2 {
			delete(h.shared, p)
		}
	}
	h.owners = owners
}

// pickOwner chooses which of several tenants configuring port (sorted by
// name) owns it: the one whose listener holds it, else the one that held
// it before a restart (as its port hint says), else the first by name.
func (h *Host) pickOwner(port int, names []string) string {
	for _, name := range names {
		if t := h.tenants[name]; t != nil {
			for _, s := range t.listeners {
				if s != nil && s.port == port && s.want.port == port {
					return name
				}
			}
		}
	}
	if h.hints != nil {
		for _, name := range names {
			if k, ok := h.specs[name].configures(port); ok && h.hints(name, k.name()) == port {
				return name
			}
		}
	}
	return names[0]
}

// claimed reports whether a spec of the Host configures port as fixed: no
// listener may move to it or take it as auto. h.mu held.
func (h *Host) claimed(port int) bool {
	_, ok := h.owners[port]
	return ok
}

// reclaim frees port, which tenant owns, for its listener k when a
// listener that does not own it holds it (an auto listener, or one moved
// off a busy port, bound before the owner configured the port): that
// listener moves to a port of its own, and its clients are told where to
// go as on a port change (DISCONNECT 0x9C with the new address). When it
// cannot move it stays, and the owner's listener moves instead. h.mu held.
func (h *Host) reclaim(tenant string, k kind, port int) {
	if h.owners[port] != tenant {
		return
	}
	for _, u := range h.tenants {
		for _, s := range u.listeners {
			if s == nil || s.port != port || (u.spec.Name == tenant && s.kind == k) {
				continue
			}
			w := s.want
			moved, err := h.bind(u.spec.Name, s.kind, &w, map[int]bool{port: true})
			if err != nil {
				h.log.Warn("a listener holds a port another tenant configures and cannot move", zap.String("tenant", u.spec.Name),
					zap.Stringer("listener", s.kind), zap.Int("port", port), zap.String("owner", tenant), zap.Error(err))
				return
			}
			u.listeners[s.kind] = moved
			moved.serve(u.broker)
			h.log.Info("listener moved off a port another tenant configures", zap.String("tenant", u.spec.Name),
				zap.Stringer("listener", s.kind), zap.Int("port", port), zap.String("owner", tenant), zap.Int("moved_to", moved.port))
			h.retire(u, s, packet.UseAnotherServer, h.addr(moved.port))
			return
		}
	}
}
