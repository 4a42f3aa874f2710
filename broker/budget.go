package broker

import (
	"errors"
	"sync/atomic"
)

// errMemoryBudget is the cause when a demand does not fit the budget.
var errMemoryBudget = errors.New("broker: memory budget spent")

// Budget is a memory budget in bytes that one or several brokers charge
// what clients make them hold (tenant.Host gives all its tenants one, the
// node's). Charges that would take it past its limit fail; the broker then
// refuses or sheds the demand. It is safe for concurrent use.
type Budget struct {
	limit  atomic.Int64
	used   atomic.Int64
	parent *Budget
	denied atomic.Int64
}

// NewBudget returns a budget of limit bytes (0 or less: unlimited).
func NewBudget(limit int64) *Budget {
	b := &Budget{}
	b.SetLimit(limit)
	return b
}

// newChildBudget returns a budget of limit bytes whose charges also go to
// parent (which may be nil).
func newChildBudget(limit int64, parent *Budget) *Budget {
	b := NewBudget(limit)
	b.parent = parent
	return b
}

// SetLimit changes the limit; bytes already charged stay charged.
func (b *Budget) SetLimit(limit int64) {
	if limit <= 0 {
		limit = 1<<63 - 1
	}
	b.limit.Store(limit)
}

// Limit returns the limit in bytes.
func (b *Budget) Limit() int64 { return b.limit.Load() }

// Used returns the bytes charged now.
func (b *Budget) Used() int64 { return b.used.Load() }

// Denied returns how many charges were refused.
func (b *Budget) Denied() int64 { return b.denied.Load() }

// charge takes n bytes from b and its parents, or none of them, reporting
// whether it did. A nil Budget accepts everything.
func (b *Budget) charge(n int64) bool {
	if b == nil || n <= 0 {
		return true
	}
	if b.used.Add(n) > b.limit.Load() {
		b.used.Add(-n)
		b.denied.Add(1)
		return false
	}
	if !b.parent.charge(n) {
		b.used.Add(-n)
		b.denied.Add(1)
		return false
	}
	return true
}

// force takes n bytes from b and its parents even past their limits (for
// memory already held that must be accounted for).
func (b *Budget) force(n int64) {
	for ; b != nil; b = b.parent {
		b.used.Add(n)
	}
}

// release gives back n bytes charged before.
func (b *Budget) release(n int64) {
	if n <= 0 {
		return
	}
	for ; b != nil; b = b.parent {
		b.used.Add(-n)
	}
}
