package admin

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"
)

// TestMetricsRoute: /metrics serves the handler given with WithMetrics,
// under the token like every other route, and the Host rule; without the
// option there is no such route.
func TestMetricsRoute(t *testing.T) {
	t.Parallel()
	const exposition = "jmqx_test_metric 1\n"
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(exposition))
	})
	s, err := New(Config{Addr: "127.0.0.1:0", Token: testToken}, newFakeBackend("n1"),
		WithLogger(zaptest.NewLogger(t)), WithMetrics(metrics))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })

	expect(t, s, http.StatusUnauthorized, "GET", "/metrics", "")
	expect(t, s, http.StatusUnauthorized, "GET", "/metrics", "", "Authorization", "Bearer not-the-token-at-all")
	if got := expect(t, s, http.StatusOK, "GET", "/metrics", "", "Authorization", "Bearer "+testToken); got != exposition {
		t.Errorf("GET /metrics = %q, want %q", got, exposition)
	}
	expect(t, s, http.StatusForbidden, "GET", "/metrics", "", "Authorization", "Bearer "+testToken, "Host", "evil.example")
	if got := expect(t, s, http.StatusMethodNotAllowed, "POST", "/metrics", "{}", "Authorization", "Bearer "+testToken); !strings.Contains(got, "GET") {
		t.Errorf("POST /metrics = %s, want the allowed method named", got)
	}

	plain, _ := startServer(t, newFakeBackend("n2"), Config{})
	expect(t, plain, http.StatusNotFound, "GET", "/metrics", "")
}
