//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// dirLock is the exclusive lock on a data directory's LOCK file, held
// while a node runs on it: a second node on the same directory is refused
// at once, with the holder's process ID, instead of waiting for raft.db's
// own lock and failing with "timeout".
type dirLock struct{ f *os.File }

// lockDataDir takes the lock of dir, or says which process holds it.
func lockDataDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("node: lock the data folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if pid := strings.TrimSpace(string(b)); pid != "" {
				holder += " (pid " + pid + ")"
			}
			return nil, fmt.Errorf("node: the data folder %s is in use by %s, which holds %s: stop that node first, or give this one its own data folder", dir, holder, path)
		}
		return nil, fmt.Errorf("node: lock %s: %w", path, err)
	}
	// The holder's process ID, for the message above; best effort.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

// release drops the lock. The file stays: removing it would let a third
// process lock a new file while a second still holds the old one.
func (l *dirLock) release() {
	if l != nil && l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
}
