// Package testwait is how tests wait for something: on a condition, with
// a deadline, never by sleeping a guessed time.
package testwait

import (
	"testing"
	"time"
)

// Poll is how often Until checks its condition.
const Poll = 5 * time.Millisecond

// Until calls f until it returns nil, failing the test with f's last error
// if that takes longer than d. f runs on the test's goroutine.
func Until(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(Poll)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", d, err)
		}
		<-tick.C
	}
}
