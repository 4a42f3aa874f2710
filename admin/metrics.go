package admin

import "net/http"

// WithMetrics serves h at GET /metrics: the node's figures in the
// Prometheus text format, which the node assembles (see node's metrics).
// The route has the access rules of every other route: the token when one
// is configured, the cross-site rules always. Without this option
// /metrics does not exist.
func WithMetrics(h http.Handler) Option {
	return func(s *Server) { s.metrics = h }
}
