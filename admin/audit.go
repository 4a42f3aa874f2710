package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// The audit log: every request that may change the control plane (POST,
// PUT, PATCH, DELETE: the CLI's, the console's and other programs' writes
// all come this way) is logged once, at info level, by the logger named
// "admin.audit", with what it changed, its outcome and who sent it. The
// line is written by the node that answered the write: the leader that
// applied it (a write sent to a follower is relayed there, and the leader
// logs it with the caller's address the follower passes on), or the node
// that refused it or could not relay it. Passwords, hashes and tokens are
// never logged: of the request body, only the name of the tenant or user
// created and the id of a member joining are read.

// Headers that carry a relayed write's origin to the leader.
const (
	// forwardedForHeader is the address of the caller of a write that a
	// follower relays to the leader (the follower's own address is the
	// connection's).
	forwardedForHeader = "X-Jmqx-Forwarded-For"
)

// auditBodyBytes bounds the part of a write's body kept for the audit
// line: all of it, as the handlers read no more (a tenant's name may
// follow its users).
const auditBodyBytes = maxBodyBytes

// auditErrorBytes bounds the part of an error answer kept for the line.
const auditErrorBytes = 1 << 10

// auditRoute says what a write route does, in words, and for the routes
// whose subject is in the body (not the path), the audit field it goes in
// and the body's JSON member that holds it. ok is false for a pattern
// that is not a write route.
func auditRoute(pattern string) (action, field, member string, ok bool) {
	switch pattern {
	case "POST /v1/tenants":
		return "create tenant", "tenant", "name", true
	case "PUT /v1/tenants/{name}":
		return "put tenant", "", "", true
	case "DELETE /v1/tenants/{name}":
		return "delete tenant", "", "", true
	case "POST /v1/tenants/{name}/users":
		return "add user", "user", "name", true
	case "POST /v1/tenants/{name}/users/{user}/rotate":
		return "rotate user credentials", "", "", true
	case "DELETE /v1/tenants/{name}/users/{user}":
		return "remove user", "", "", true
	case "PUT /v1/tenants/{name}/acl":
		return "replace ACL", "", "", true
	case "POST /v1/tenants/{name}/acl/rules":
		return "add ACL rule", "", "", true
	case "DELETE /v1/tenants/{name}/acl/rules/{index}":
		return "remove ACL rule", "", "", true
	case "PUT /v1/tenants/{name}/nodes/{node}":
		return "record bound addresses", "", "", true
	case "POST /v1/cluster/join":
		return "join member", "member", "id", true
	case "DELETE /v1/cluster/members/{id}":
		return "remove member", "", "", true
	}
	return "", "", "", false
}

// auditPathFields are the route wildcards an audit line shows, and the
// field each goes in.
func auditPathFields() [5][2]string {
	return [5][2]string{{"name", "tenant"}, {"user", "user"}, {"index", "rule"}, {"node", "node"}, {"id", "member"}}
}

// auditRecord is what one write's audit line learns on the way down.
type auditRecord struct {
	// relayedTo is the leader a follower relayed the write to and whose
	// answer it passed on: the leader logs that write, not this node.
	relayedTo string
}

// auditKey is the context key of a request's *auditRecord.
type auditKey struct{}

// noteRelayed records that r was relayed to leader, whose answer was
// passed on.
func noteRelayed(r *http.Request, leader string) {
	if rec, ok := r.Context().Value(auditKey{}).(*auditRecord); ok {
		rec.relayedTo = leader
	}
}

// audit logs every state-changing request once answered (see above).
func (s *Server) audit(next http.Handler) http.Handler {
	log := s.log.Named("audit")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !changesState(r.Method) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rec := &auditRecord{}
		r = r.WithContext(context.WithValue(r.Context(), auditKey{}, rec))
		body := &bodyTap{ReadCloser: r.Body}
		r.Body = body
		resp := &auditResponse{statusRecorder: statusRecorder{ResponseWriter: w}}
		next.ServeHTTP(resp, r)
		fields := s.auditFields(r, body.kept, resp)
		fields = append(fields, zap.Duration("duration", time.Since(start)))
		if rec.relayedTo != "" {
			if ce := log.Check(zap.DebugLevel, "admin write relayed to the leader, which logs it"); ce != nil {
				ce.Write(append(fields, zap.String("leader", rec.relayedTo))...)
			}
			return
		}
		log.Info("admin write", fields...)
	})
}

// auditFields are the fields of r's audit line: what it changed, its
// outcome and who sent it. r has been served (its route is known).
func (s *Server) auditFields(r *http.Request, body []byte, resp *auditResponse) []zap.Field {
	status := resp.status
	if status == 0 {
		status = http.StatusOK
	}
	fields := []zap.Field{
		zap.String("method", r.Method),
		zap.String("path", r.URL.Path),
	}
	action, field, member, ok := auditRoute(r.Pattern)
	if ok {
		fields = append(fields, zap.String("route", r.Pattern), zap.String("action", action))
	}
	for _, p := range auditPathFields() {
		if v := r.PathValue(p[0]); v != "" {
			fields = append(fields, zap.String(p[1], v))
		}
	}
	if member != "" {
		if v := jsonMember(body, member); v != "" {
			fields = append(fields, zap.String(field, v))
		}
	}
	fields = append(fields, zap.Int("status", status))
	if status >= http.StatusBadRequest {
		var e errorBody
		if json.Unmarshal(resp.errBody, &e) == nil && e.Error != "" {
			fields = append(fields, zap.String("error", e.Error))
		}
	}
	fields = append(fields, zap.String("remote", r.RemoteAddr))
	if by := r.Header.Get(forwardedHeader); by != "" {
		if by == "1" { // a member that does not say which it is
			by = "a member"
		}
		fields = append(fields, zap.String("forwarded_by", by))
		if a := r.Header.Get(forwardedForHeader); a != "" {
			fields = append(fields, zap.String("forwarded_for", a))
		}
	}
	return fields
}

// jsonMember returns the string member name of the JSON object at the
// start of b, "" when there is none (or b is not such an object).
func jsonMember(b []byte, name string) string {
	var obj map[string]json.RawMessage
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&obj); err != nil {
		return ""
	}
	var v string
	if err := json.Unmarshal(obj[name], &v); err != nil {
		return ""
	}
	return v
}

// bodyTap keeps the first auditBodyBytes of a request body as the handler
// reads it, so that the audit line can name what the body created. It
// reads nothing by itself: a request refused before its body is read
// (wrong token, cross-site) costs nothing more.
type bodyTap struct {
	io.ReadCloser
	kept []byte
}

// Read reads from the body and keeps what fits.
func (b *bodyTap) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if room := auditBodyBytes - len(b.kept); room > 0 && n > 0 {
		b.kept = append(b.kept, p[:min(n, room)]...)
	}
	return n, err
}

// auditResponse records the status of an answer (statusRecorder) and the
// start of an error answer's body.
type auditResponse struct {
	statusRecorder
	errBody []byte
}

// Write keeps the start of an error answer and passes b on.
func (a *auditResponse) Write(b []byte) (int, error) {
	n, err := a.statusRecorder.Write(b)
	if room := auditErrorBytes - len(a.errBody); a.status >= http.StatusBadRequest && room > 0 {
		a.errBody = append(a.errBody, b[:min(n, room)]...)
	}
	return n, err
}
