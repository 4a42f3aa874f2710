package testwait

import (
	"errors"
	"testing"
	"time"
)

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	Until(t, time.Second, func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if calls != 3 {
		t.Fatalf("%d calls, want 3", calls)
	}
}

// failTB records a Fatalf instead of ending the test.
type failTB struct {
	testing.TB
	failed string
}

func (f *failTB) Helper() {}
func (f *failTB) Fatalf(format string, args ...any) {
	f.failed = format
	panic(f)
}

func TestUntilFailsAfterTheDeadline(t *testing.T) {
	ft := &failTB{TB: t}
	func() {
		defer func() {
			if r := recover(); r != ft {
				panic(r)
			}
		}()
		Until(ft, 20*time.Millisecond, func() error { return errors.New("never") })
	}()
	if ft.failed == "" {
		t.Fatal("Until returned without the condition and without failing")
	}
}
