package admin

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/jmqx/jmqx/tenant"
)

// fakeBackend is an in-memory Backend. Every write fails with writeErr
// when it is set.
type fakeBackend struct {
	mu         sync.Mutex
	id         string
	specs      map[string]tenant.Spec
	members    []MemberView
	leader     bool
	leaderAddr string
	status     map[string]NodeStatus
	readyErr   error
	writeErr   error
	bound      []string // node/tenant of each RecordBound
}

var _ Backend = (*fakeBackend)(nil)

func newFakeBackend(id string) *fakeBackend {
	return &fakeBackend{
		id:      id,
		specs:   map[string]tenant.Spec{},
		members: []MemberView{{ID: id, Role: "leader", RaftAddr: "127.0.0.1:1", Voter: true, Healthy: true}},
		leader:  true,
		status:  map[string]NodeStatus{},
	}
}

func (f *fakeBackend) NodeID() string { return f.id }

func (f *fakeBackend) Tenants() []TenantView {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []TenantView
	for _, s := range f.specs {
		out = append(out, TenantView{Name: s.Name, Spec: s})
	}
	slices.SortFunc(out, func(a, b TenantView) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (f *fakeBackend) Tenant(name string) (TenantView, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.specs[name]
	return TenantView{Name: name, Spec: s}, ok
}

func (f *fakeBackend) Members() []MemberView {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.members)
}

func (f *fakeBackend) IsLeader() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leader
}

func (f *fakeBackend) LeaderAdminAddr() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leaderAddr
}

func (f *fakeBackend) setFollowerOf(leaderAddr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leader, f.leaderAddr = false, leaderAddr
}

func (f *fakeBackend) PutTenant(_ context.Context, spec tenant.Spec, create bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.writeErr != nil {
		return f.writeErr
	}
	if old, ok := f.specs[spec.Name]; ok && create && !reflect.DeepEqual(old, spec) {
		return fmt.Errorf("tenant %q: %w", spec.Name, ErrExists)
	}
	f.specs[spec.Name] = spec
	return nil
}

func (f *fakeBackend) DeleteTenant(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.writeErr != nil {
		return f.writeErr
	}
	if _, ok := f.specs[name]; !ok {
		return fmt.Errorf("tenant %q: %w", name, ErrNotFound)
	}
	delete(f.specs, name)
	return nil
}

func (f *fakeBackend) PutUser(_ context.Context, name string, u tenant.User) error {
	return f.update(name, func(s *tenant.Spec) {
		if i := findUser(*s, u.Name); i >= 0 {
			s.Auth.Users[i] = u
			return
		}
		s.Auth.Users = append(s.Auth.Users, u)
	})
}

func (f *fakeBackend) RemoveUser(_ context.Context, name, user string) error {
	return f.update(name, func(s *tenant.Spec) {
		s.Auth.Users = slices.DeleteFunc(s.Auth.Users, func(u tenant.User) bool { return u.Name == user })
	})
}

func (f *fakeBackend) PutACL(_ context.Context, name string, acl tenant.ACL) error {
	return f.update(name, func(s *tenant.Spec) { s.ACL = acl })
}

// update changes a copy of a stored spec and stores it.
func (f *fakeBackend) update(name string, change func(*tenant.Spec)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.writeErr != nil {
		return f.writeErr
	}
	s, ok := f.specs[name]
	if !ok {
		return fmt.Errorf("tenant %q: %w", name, ErrNotFound)
	}
	s.Auth.Users = slices.Clone(s.Auth.Users)
	change(&s)
	f.specs[name] = s
	return nil
}

func (f *fakeBackend) Join(_ context.Context, m MemberView) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.writeErr != nil {
		return f.writeErr
	}
	m.Voter, m.Role = true, "follower"
	f.members = append(f.members, m)
	return nil
}

func (f *fakeBackend) RecordBound(_ context.Context, tenantName, node string, listeners map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.specs[tenantName]; !ok {
		return ErrNotFound
	}
	f.bound = append(f.bound, node+"/"+tenantName)
	return nil
}

func (f *fakeBackend) RemoveMember(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.members, func(m MemberView) bool { return m.ID == id })
	if i < 0 {
		return fmt.Errorf("member %q: %w", id, ErrNotFound)
	}
	f.members = slices.Delete(f.members, i, i+1)
	return nil
}

func (f *fakeBackend) LocalStatus(name string) (NodeStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.status[name]
	return st, ok
}

func (f *fakeBackend) Ready() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.readyErr
}

// startServer starts a Server over b on 127.0.0.1:0 (unless cfg says
// otherwise) and returns it with a Client carrying cfg.Token.
func startServer(t *testing.T, b Backend, cfg Config) (*Server, *Client) {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := New(cfg, b, WithLogger(zaptest.NewLogger(t)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	server, opts := s.Addr().String(), []ClientOption(nil)
	if cfg.TLS != nil {
		server = "https://" + server
		opts = append(opts, WithTLSConfig(&tls.Config{RootCAs: cfg.TLS.RootCAs}))
	}
	c, err := NewClient(server, cfg.Token, opts...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return s, c
}

// call sends a raw request to s and returns the status and body.
// header holds alternating names and values; a write (any method but
// GET) is sent as application/json unless header sets Content-Type, and
// "Host" sets the Host header.
func call(t *testing.T, s *Server, method, path, body string, header ...string) (int, string) {
	t.Helper()
	resp, b := send(t, s, method, path, body, header...)
	if resp.StatusCode >= 400 && !strings.HasPrefix(b, `{"error":`) {
		t.Errorf("%s %s: error body is not {\"error\": …}: %s", method, path, b)
	}
	return resp.StatusCode, b
}

// send is call returning the whole response (its body read), with no
// check of the error body.
func send(t *testing.T, s *Server, method, path, body string, header ...string) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+s.Addr().String()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if http.CanonicalHeaderKey(header[i]) == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp, string(b)
}

// expect fails t unless the request answers want, and returns the body.
func expect(t *testing.T, s *Server, want int, method, path, body string, header ...string) string {
	t.Helper()
	got, b := call(t, s, method, path, body, header...)
	if got != want {
		t.Fatalf("%s %s = %d %s; want %d", method, path, got, b, want)
	}
	return b
}

// ctxT is a context bounded by the test's life (generous: the plain
// password route runs bcrypt at its default cost, slow under -race).
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// Valid bcrypt hashes at the minimum cost, so that tests stay fast.
const (
	testHash      = "$2a$04$/aigJzI6HWPzsuHSntLEAu5MhLzQ6InDj/3.4Hm42MvyU.I4Ez9qm" // "secret"
	testHashOther = "$2a$04$Vy7.699l896Q0Tsw6CzovuGA3Q5RAV4vX40q3Kh2VcKuUDR7YRqdS" // "new"
)

// testToken is an admin token of the minimum length and more.
const testToken = "s3cret-s3cret-s3cret"

// tenantSpec is a minimal valid spec.
func tenantSpec(name string) tenant.Spec { return tenant.Spec{Name: name} }
