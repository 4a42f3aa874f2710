//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package node

// dirLock is a no-op where flock(2) is missing: raft.db's own lock still
// keeps a second node out, after a timeout.
type dirLock struct{}

func lockDataDir(string) (*dirLock, error) { return &dirLock{}, nil }

func (*dirLock) release() {}
