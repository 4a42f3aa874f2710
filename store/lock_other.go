//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package store

import (
	"os"
	"time"
)

// lockFile does nothing: bbolt takes the file's lock itself, after the
// check (which then may read a file another process is writing).
func lockFile(*os.File, time.Duration) error { return nil }
