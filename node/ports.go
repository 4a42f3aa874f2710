package node

import (
	"encoding/json"
	"maps"
	"net"
	"os"
	"strconv"
	"sync"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/tenant"
)

// portBook remembers, in the data directory, the port each tenant listener
// of this node had, so that "auto" listeners get the same ports after a
// restart, before the Raft log has replayed.
type portBook struct {
	mu    sync.Mutex
	path  string
	log   *zap.Logger
	ports map[string]map[string]int // tenant -> listener -> port
}

// load reads the file at path; a missing or unreadable file means no hints.
func (b *portBook) load(path string, log *zap.Logger) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.path, b.log, b.ports = path, log, map[string]map[string]int{}
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	if err := json.Unmarshal(data, &b.ports); err != nil {
		log.Warn("ignoring the saved tenant ports", zap.String("file", path), zap.Error(err))
		b.ports = map[string]map[string]int{}
	}
}

// get returns the saved port of a tenant's listener, 0 if none.
func (b *portBook) get(tenantName, listener string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ports[tenantName][listener]
}

// save records the ports of the running tenants, keeping those of tenants
// that exist but do not run yet (known), and writes the file only when
// they changed (atomically: a temporary file renamed over it).
func (b *portBook) save(list []tenant.Status, known func(tenantName string) bool) {
	next := make(map[string]map[string]int, len(list))
	for _, st := range list {
		m := make(map[string]int, len(st.Listeners))
		for name, addr := range st.Listeners {
			if _, p, err := net.SplitHostPort(addr); err == nil {
				m[string(name)], _ = strconv.Atoi(p)
			}
		}
		next[st.Spec.Name] = m
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for name, m := range b.ports {
		if _, running := next[name]; !running && known(name) {
			next[name] = m
		}
	}
	if maps.EqualFunc(b.ports, next, func(x, y map[string]int) bool { return maps.Equal(x, y) }) {
		return
	}
	b.ports = next
	data, err := json.MarshalIndent(next, "", "  ")
	if err == nil {
		tmp := b.path + ".tmp"
		if err = os.WriteFile(tmp, data, 0o640); err == nil {
			err = os.Rename(tmp, b.path)
		}
	}
	if err != nil {
		b.log.Warn("could not save the tenant ports", zap.String("file", b.path), zap.Error(err))
	}
}

// listenerAddrs returns the bound addresses of st keyed by listener name,
// as the control plane records them (meta.RecordBound).
func listenerAddrs(st tenant.Status) map[string]string {
	m := make(map[string]string, len(st.Listeners))
	for k, addr := range st.Listeners {
		m[string(k)] = addr
	}
	return m
}
