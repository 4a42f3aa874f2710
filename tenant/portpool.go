package tenant

import "sync"

// portPool tracks the ports the Host's listeners hold and hands out
// candidates for "auto" listeners, round robin over the range. It has its
// own lock: Close releases ports from several goroutines.
type portPool struct {
	mu       sync.Mutex
	min, max int
	cursor   int
	taken    map[int]bool
}

func newPortPool(lo, hi int) *portPool {
	return &portPool{min: lo, max: hi, cursor: lo, taken: make(map[int]bool)}
}

func (p *portPool) take(port int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.taken[port] = true
}

func (p *portPool) release(port int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.taken, port)
}

// held reports whether a listener of the Host holds port.
func (p *portPool) held(port int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.taken[port]
}

// free reports whether port is in the range and not held.
func (p *portPool) free(port int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return port >= p.min && port <= p.max && !p.taken[port]
}

// next returns the next port of the range neither held nor skipped, or 0
// when there is none. skip is called with p.mu held: it must not call the
// pool.
func (p *portPool) next(skip func(port int) bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range p.max - p.min + 1 {
		port := p.cursor
		if p.cursor++; p.cursor > p.max {
			p.cursor = p.min
		}
		if !p.taken[port] && !skip(port) {
			return port
		}
	}
	return 0
}
