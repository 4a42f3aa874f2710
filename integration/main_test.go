// Package integration holds jmqx's end-to-end tests: real brokers on
// 127.0.0.1:0, driven by the paho clients (MQTT 5 and 3.1.1) and by raw
// sockets that send exact bytes. Every test is a transcript built on the
// helpers of harness_test.go.
package integration

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any goroutine (broker or client) outlives the
// tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, pahoIgnores()...)
}
