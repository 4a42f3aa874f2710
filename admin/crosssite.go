package admin

import (
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"go.uber.org/zap"
)

// Cross-site protection. Any web page the operator's browser shows can
// send requests to the admin API on loopback: a form or fetch POST with a
// "simple" content type goes out without a CORS preflight, and a page on
// a name that the attacker later resolves to 127.0.0.1 (DNS rebinding)
// can even read the answers. The token does not help when there is none
// (loopback) and a browser never sends it by itself, but the rules below
// hold whatever the token setting:
//
//   - the Host header must name this node: localhost, one of its IP
//     addresses (the bound one; with a wildcard bind, any interface's) or
//     a name of Config.AllowedHosts, with or without the port;
//   - a state-changing request (POST, PUT, PATCH, DELETE) must not come
//     from another site: an Origin header, when present, must be the
//     request's own host and port, and a browser's Sec-Fetch-Site must
//     say same-origin (or none: typed by the user);
//   - POST, PUT and PATCH must send Content-Type: application/json,
//     which a browser sends cross-site only after a preflight the API
//     never grants; a DELETE must too when it has a body.
//
// The node's peers pass: they reach each other at the advertised admin
// address, one of the node's IPs, send no Origin, and admin.Client sets
// the content type.

// guard refuses cross-site requests (see above) before they reach
// authentication or a route; the refusal is a 403 naming the rule, and an
// info log line.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rule, err := s.crossSite(r); err != nil {
			s.log.Info("refused a cross-site admin request", zap.String("rule", rule),
				zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("host", r.Host),
				zap.String("origin", r.Header.Get("Origin")), zap.String("content_type", r.Header.Get("Content-Type")),
				zap.String("remote", r.RemoteAddr))
			writeError(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// crossSite returns the rule r breaks, as a short name for the log and a
// 403 for the caller, or nil when r may proceed.
func (s *Server) crossSite(r *http.Request) (string, error) {
	if !s.hostAllowed(r.Host) {
		return "host", errorf(http.StatusForbidden,
			"Host header %q does not name this node: the admin API answers only to localhost, the node's IP addresses "+
				"and the names given with --admin-host (admin.Config.AllowedHosts), which defeats DNS rebinding", r.Host)
	}
	if !changesState(r.Method) {
		return "", nil
	}
	if origin := r.Header.Get("Origin"); origin != "" && !sameOrigin(origin, r) {
		return "origin", errorf(http.StatusForbidden,
			"cross-site request refused: Origin %q is not this admin API (%s); %s requests are accepted only from the API's own origin or from non-browser clients",
			origin, r.Host, r.Method)
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return "sec-fetch-site", errorf(http.StatusForbidden,
			"cross-site request refused: Sec-Fetch-Site is %q; %s requests are accepted only from the API's own origin or from non-browser clients",
			site, r.Method)
	}
	if needsJSON(r) && !isJSON(r.Header.Get("Content-Type")) {
		return "content-type", errorf(http.StatusForbidden,
			"%s requests must send \"Content-Type: application/json\" (got %q): other types can be sent cross-site by any web page",
			r.Method, r.Header.Get("Content-Type"))
	}
	return "", nil
}

// changesState reports whether method may change the control plane.
func changesState(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// needsJSON reports whether r must declare a JSON body: every
// state-changing request but a DELETE without a body (a DELETE cannot be
// sent cross-site without a preflight anyway).
func needsJSON(r *http.Request) bool {
	if r.Method == http.MethodDelete {
		return r.ContentLength != 0 // -1: unknown length, so a body
	}
	return true
}

// isJSON reports whether a Content-Type header is application/json, with
// or without parameters.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// sameOrigin reports whether an Origin header names the host and port r
// was sent to. "null" and anything unparsable are foreign.
func sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false
	}
	defPort := "80"
	if r.TLS != nil {
		defPort = "443"
	}
	oHost, oPort := splitHostPort(u.Host, map[string]string{"http": "80", "https": "443"}[u.Scheme])
	rHost, rPort := splitHostPort(r.Host, defPort)
	return oHost != "" && oHost == rHost && oPort == rPort
}

// splitHostPort splits a Host header or URL host into its normalized host
// (lower case, no brackets, no trailing dot) and port (defPort if none).
func splitHostPort(hostport, defPort string) (host, port string) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), defPort
	}
	return normalizeHost(host), port
}

// normalizeHost lower-cases a host name and drops a trailing dot; an IP
// address is written in its canonical form.
func normalizeHost(host string) string {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.WithZone("").Unmap().String()
	}
	return host
}

// hostAllowed reports whether a Host header names this node.
func (s *Server) hostAllowed(hostHeader string) bool {
	host, _ := splitHostPort(hostHeader, "")
	if host == "" {
		return false
	}
	if s.allowedNames[host] {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	bound := s.boundIP()
	if ip == bound {
		return true
	}
	// A wildcard bind answers on every interface; the unspecified address
	// itself is how members name a node bound that way.
	return bound.IsValid() && bound.IsUnspecified() && (ip.IsUnspecified() || isInterfaceAddr(ip))
}

// boundIP is the IP the API listens on: the bound address after Start,
// else the configured one (the zero Addr when it is a name). A wildcard
// bind is the unspecified address.
func (s *Server) boundIP() netip.Addr {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	addr := s.cfg.Addr
	if ln != nil {
		addr = ln.Addr().String()
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.Addr{}
	}
	if host == "" {
		return netip.IPv6Unspecified()
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return ip.WithZone("").Unmap()
}

// isInterfaceAddr reports whether ip is an address of one of the
// machine's network interfaces, read now (addresses come and go).
func isInterfaceAddr(ip netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ifIP, ok := netip.AddrFromSlice(n.IP); ok && ifIP.Unmap() == ip {
			return true
		}
	}
	return false
}

// allowedNames returns the set of Host names every Server accepts:
// localhost, the configured host of addr when it is a name, and extra
// (AllowedHosts), normalized.
func allowedNames(addr string, extra []string) map[string]bool {
	names := map[string]bool{"localhost": true}
	if host, _, err := net.SplitHostPort(addr); err == nil && host != "" {
		names[normalizeHost(host)] = true
	}
	for _, h := range extra {
		names[normalizeHost(h)] = true
	}
	return names
}
