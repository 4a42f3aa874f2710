package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/urfave/cli/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/jmqx/jmqx/admin"
	"github.com/jmqx/jmqx/tenant"
)

// fakeAdmin is an in-memory admin API for the client commands' tests.
type fakeAdmin struct {
	mu      sync.Mutex
	specs   map[string]tenant.Spec
	nodes   []string
	status  []admin.NodeStatus
	members []admin.MemberView
	// server and token are what the command passed to newAdmin.
	server, token string
	// writes records the calls that change something, as "Method arg".
	writes []string
	// fail, if set, is returned by every call.
	fail error
	// changeBefore, if set, changes the tenant once just before the next
	// conditional write, as a concurrent writer would.
	changeBefore func(*tenant.Spec)
}

var _ adminAPI = (*fakeAdmin)(nil)

func newFakeAdmin(specs ...tenant.Spec) *fakeAdmin {
	f := &fakeAdmin{specs: map[string]tenant.Spec{}, nodes: []string{"node-1", "node-2"}}
	for _, s := range specs {
		f.specs[s.Name] = s
	}
	return f
}

// spec returns the stored spec of name.
func (f *fakeAdmin) spec(t *testing.T, name string) tenant.Spec {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.specs[name]
	if !ok {
		t.Fatalf("no tenant %q", name)
	}
	return s
}

func (f *fakeAdmin) wrote(call string) {
	f.writes = append(f.writes, call)
}

func notFound(what, name string) error {
	return &admin.Error{Status: http.StatusNotFound, Message: fmt.Sprintf("%s %q not found", what, name)}
}

func (f *fakeAdmin) view(s tenant.Spec) admin.TenantView {
	v := admin.TenantView{Name: s.Name, Spec: s.Clone(), Nodes: []admin.NodeListeners{}, Revision: admin.Revision(s)}
	for i, n := range f.nodes {
		v.Nodes = append(v.Nodes, admin.NodeListeners{Node: n, Listeners: map[string]string{
			"mqtt": fmt.Sprintf("10.0.0.%d:1883", i+1),
			"ws":   fmt.Sprintf("10.0.0.%d:8083", i+1),
		}})
	}
	return v
}

func (f *fakeAdmin) Tenants(context.Context) ([]admin.TenantView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	var vs []admin.TenantView
	for _, name := range slicesSortedKeys(f.specs) {
		vs = append(vs, f.view(f.specs[name]))
	}
	return vs, nil
}

func slicesSortedKeys(m map[string]tenant.Spec) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (f *fakeAdmin) Tenant(_ context.Context, name string) (admin.TenantView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return admin.TenantView{}, f.fail
	}
	s, ok := f.specs[name]
	if !ok {
		return admin.TenantView{}, notFound("tenant", name)
	}
	return f.view(s), nil
}

func (f *fakeAdmin) CreateTenant(_ context.Context, spec tenant.Spec) (admin.TenantView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return admin.TenantView{}, f.fail
	}
	if _, ok := f.specs[spec.Name]; ok {
		return admin.TenantView{}, &admin.Error{Status: http.StatusConflict, Message: fmt.Sprintf("tenant %q already exists", spec.Name)}
	}
	f.wrote("CreateTenant " + spec.Name)
	f.specs[spec.Name] = spec.Clone()
	return f.view(spec), nil
}

func (f *fakeAdmin) UpdateTenant(ctx context.Context, spec tenant.Spec, revision string) (admin.TenantView, error) {
	if err := f.checkRevision(spec.Name, revision); err != nil {
		return admin.TenantView{}, err
	}
	return f.PutTenant(ctx, spec)
}

func (f *fakeAdmin) UpdateACL(ctx context.Context, tenantName string, acl tenant.ACL, revision string) error {
	if err := f.checkRevision(tenantName, revision); err != nil {
		return err
	}
	return f.PutACL(ctx, tenantName, acl)
}

// checkRevision is the server's If-Match check; f.changeBefore, when set,
// changes the tenant once first, as a concurrent writer would.
func (f *fakeAdmin) checkRevision(name, revision string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.changeBefore != nil {
		change := f.changeBefore
		f.changeBefore = nil
		s := f.specs[name]
		change(&s)
		f.specs[name] = s
	}
	if revision != "" && admin.Revision(f.specs[name]) != revision {
		return &admin.Error{Status: http.StatusPreconditionFailed, Message: fmt.Sprintf("tenant %q changed since it was read", name)}
	}
	return nil
}

func (f *fakeAdmin) PutTenant(_ context.Context, spec tenant.Spec) (admin.TenantView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return admin.TenantView{}, f.fail
	}
	f.wrote("PutTenant " + spec.Name)
	f.specs[spec.Name] = spec.Clone()
	return f.view(spec), nil
}

func (f *fakeAdmin) DeleteTenant(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if _, ok := f.specs[name]; !ok {
		return notFound("tenant", name)
	}
	f.wrote("DeleteTenant " + name)
	delete(f.specs, name)
	return nil
}

func (f *fakeAdmin) TenantStatus(_ context.Context, name string) ([]admin.NodeStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.specs[name]; !ok {
		return nil, notFound("tenant", name)
	}
	return f.status, nil
}

// update calls fn with the stored spec of name and stores the result.
func (f *fakeAdmin) update(call, name string, fn func(s *tenant.Spec) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	s, ok := f.specs[name]
	if !ok {
		return notFound("tenant", name)
	}
	s = s.Clone()
	if err := fn(&s); err != nil {
		return err
	}
	f.wrote(call + " " + name)
	f.specs[name] = s
	return nil
}

func (f *fakeAdmin) Users(_ context.Context, name string) ([]admin.UserView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.specs[name]
	if !ok {
		return nil, notFound("tenant", name)
	}
	var us []admin.UserView
	for _, u := range s.Auth.Users {
		us = append(us, admin.UserView{Name: u.Name, Credentials: len(u.PasswordHashes)})
	}
	return us, nil
}

func (f *fakeAdmin) AddUser(_ context.Context, tenantName, name, hash string) error {
	return f.update("AddUser", tenantName, func(s *tenant.Spec) error {
		for _, u := range s.Auth.Users {
			if u.Name == name {
				return &admin.Error{Status: http.StatusConflict, Message: fmt.Sprintf("user %q already exists", name)}
			}
		}
		s.Auth.Users = append(s.Auth.Users, tenant.User{Name: name, PasswordHashes: []string{hash}})
		return nil
	})
}

func (f *fakeAdmin) RotateUser(_ context.Context, tenantName, name, hash string, revokeOld bool) error {
	return f.update("RotateUser", tenantName, func(s *tenant.Spec) error {
		for i, u := range s.Auth.Users {
			if u.Name == name {
				switch {
				case revokeOld && hash == "":
					s.Auth.Users[i].PasswordHashes = u.PasswordHashes[len(u.PasswordHashes)-1:]
					return nil
				case revokeOld:
					u.PasswordHashes = nil
				}
				s.Auth.Users[i].PasswordHashes = append(u.PasswordHashes, hash)
				return nil
			}
		}
		return notFound("user", name)
	})
}

func (f *fakeAdmin) RemoveUser(_ context.Context, tenantName, name string) error {
	return f.update("RemoveUser", tenantName, func(s *tenant.Spec) error {
		for i, u := range s.Auth.Users {
			if u.Name == name {
				s.Auth.Users = slices.Delete(s.Auth.Users, i, i+1)
				return nil
			}
		}
		return notFound("user", name)
	})
}

func (f *fakeAdmin) ACL(_ context.Context, name string) (tenant.ACL, error) {
	v, err := f.Tenant(context.Background(), name)
	return v.Spec.ACL, err
}

func (f *fakeAdmin) PutACL(_ context.Context, name string, acl tenant.ACL) error {
	return f.update("PutACL", name, func(s *tenant.Spec) error {
		s.ACL = acl
		return nil
	})
}

func (f *fakeAdmin) AddRule(_ context.Context, name string, rule tenant.Rule, position int) (tenant.ACL, error) {
	var acl tenant.ACL
	err := f.update(fmt.Sprintf("AddRule@%d", position), name, func(s *tenant.Spec) error {
		if position < 0 || position > len(s.ACL.Rules) {
			position = len(s.ACL.Rules)
		}
		s.ACL.Rules = slices.Insert(s.ACL.Rules, position, rule)
		acl = s.ACL
		return nil
	})
	return acl, err
}

func (f *fakeAdmin) RemoveRule(_ context.Context, name string, index int) (tenant.ACL, error) {
	var acl tenant.ACL
	err := f.update("RemoveRule", name, func(s *tenant.Spec) error {
		if index >= len(s.ACL.Rules) {
			return &admin.Error{Status: http.StatusNotFound, Message: fmt.Sprintf("rule %d not found", index)}
		}
		s.ACL.Rules = slices.Delete(s.ACL.Rules, index, index+1)
		acl = s.ACL
		return nil
	})
	return acl, err
}

func (f *fakeAdmin) Members(context.Context) ([]admin.MemberView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	return f.members, nil
}

func (f *fakeAdmin) RemoveMember(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, m := range f.members {
		if m.ID == id {
			f.members = slices.Delete(f.members, i, i+1)
			f.wrote("RemoveMember " + id)
			return nil
		}
	}
	return notFound("member", id)
}

// cliResult is what one run of the app printed and returned.
type cliResult struct {
	stdout, stderr string
	err            error
}

// runClient runs "jmqx ARGS..." in process against f, with stdin as
// standard input.
func runClient(t *testing.T, f *fakeAdmin, stdin string, args ...string) cliResult {
	t.Helper()
	return runClientEnv(t, f, stdin, appEnv{hashPassword: cheapHash}, args...)
}

// cheapHash is a bcrypt hash at the lowest cost, for fast tests.
func cheapHash(pw []byte) (string, error) {
	h, err := bcrypt.GenerateFromPassword(pw, bcrypt.MinCost)
	return string(h), err
}

// runClientEnv is runClient with env's hashPassword.
func runClientEnv(t *testing.T, f *fakeAdmin, stdin string, env appEnv, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	app := newApp(appEnv{
		hashPassword: env.hashPassword,
		stdout:       &out,
		stderr:       &errOut,
		stdin:        strings.NewReader(stdin),
		newAdmin: func(server, token string) (adminAPI, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.server, f.token = server, token
			return f, nil
		},
	})
	err := app.RunContext(context.Background(), append([]string{"jmqx"}, args...))
	return cliResult{stdout: out.String(), stderr: errOut.String(), err: err}
}

// mustRun runs the app and fails the test if it returns an error.
func mustRun(t *testing.T, f *fakeAdmin, stdin string, args ...string) cliResult {
	t.Helper()
	r := runClient(t, f, stdin, args...)
	if r.err != nil {
		t.Fatalf("jmqx %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r
}

// mustFail runs the app, expecting an error containing want and nothing on
// stdout.
func mustFail(t *testing.T, f *fakeAdmin, stdin, want string, args ...string) cliResult {
	t.Helper()
	r := runClient(t, f, stdin, args...)
	if r.err == nil || !strings.Contains(r.err.Error(), want) {
		t.Fatalf("jmqx %s = %v, want an error containing %q\nstdout:\n%s", strings.Join(args, " "), r.err, want, r.stdout)
	}
	if strings.Contains(r.err.Error(), "\n") {
		t.Errorf("jmqx %s: error spans lines: %q", strings.Join(args, " "), r.err)
	}
	if r.stdout != "" {
		t.Errorf("jmqx %s printed on failure:\n%s", strings.Join(args, " "), r.stdout)
	}
	return r
}

// checkJSON checks the --json conventions: two-space indent, final newline;
// and decodes out into v.
func checkJSON(t *testing.T, out string, v any) {
	t.Helper()
	if !strings.HasSuffix(out, "\n") {
		t.Errorf("JSON output does not end with a newline: %q", out)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(strings.TrimSpace(out)), "", "  "); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if buf.String()+"\n" != out {
		t.Errorf("JSON output is not indented by two spaces:\n%s", out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("decoding output: %v\n%s", err, out)
	}
}

func TestClientFlagsBeforeAndAfterCommand(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"tenant", "list", "--json", "--server", "h1:1"},
		{"tenant", "--json", "--server", "h1:1", "list"},
		{"tenant", "--server", "h0:1", "list", "--json", "--server", "h1:1"},
		{"tenant", "--json=false", "list", "--server", "h1:1", "--json"},
	} {
		f := newFakeAdmin(tenant.Spec{Name: "a"})
		r := mustRun(t, f, "", args...)
		var views []admin.TenantView
		checkJSON(t, r.stdout, &views)
		if f.server != "h1:1" {
			t.Errorf("jmqx %s: server %q, want h1:1", strings.Join(args, " "), f.server)
		}
	}
}

// TestClientFlagsFromEnv cannot be parallel: it sets the environment.
func TestClientFlagsFromEnv(t *testing.T) {
	t.Setenv("JMQX_SERVER", "env-host:9")
	t.Setenv("JMQX_TOKEN", "s3cret")
	f := newFakeAdmin()
	mustRun(t, f, "", "cluster", "members")
	if f.server != "env-host:9" || f.token != "s3cret" {
		t.Errorf("server, token = %q, %q; want the environment's", f.server, f.token)
	}
	mustRun(t, f, "", "cluster", "members", "--server", "flag-host:1")
	if f.server != "flag-host:1" {
		t.Errorf("server = %q; the flag should win over JMQX_SERVER", f.server)
	}
}

func TestClientFlagsDefault(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin()
	mustRun(t, f, "", "cluster", "members")
	if f.server != defaultServer || f.token != "" {
		t.Errorf("server, token = %q, %q; want %q and none", f.server, f.token, defaultServer)
	}
}

func TestClientUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"tenant", "create"}, "tenant create: NAME is required"},
		{[]string{"tenant", "create", "a", "b"}, `tenant create: unexpected argument "b"`},
		{[]string{"tenant", "nope"}, `tenant: unknown command "nope"`},
		{[]string{"tenant", "create", "a", "--max-connections", "many"}, `tenant create: invalid value "many" for flag --max-connections`},
		{[]string{"tenant", "create", "--max-connections", "many", "a"}, `tenant create: invalid value "many" for flag --max-connections`},
		{[]string{"tenant", "create", "a", "--bogus"}, "tenant create: flag provided but not defined: --bogus"},
		{[]string{"tenant", "create", "a", "--mqtt-port"}, "tenant create: flag needs an argument: --mqtt-port"},
		{[]string{"tenant", "create", "a", "--mqtt-port", "99999"}, `tenant create: --mqtt-port: "99999": want a port number`},
		{[]string{"user", "add", "a"}, "user add: USER is required"},
		{[]string{"acl", "remove", "a", "x"}, `acl remove: INDEX "x"`},
		{[]string{"cluster", "remove"}, "cluster remove: NODE is required"},
	} {
		r := mustFail(t, newFakeAdmin(tenant.Spec{Name: "a"}), "", tt.want, tt.args...)
		if !strings.Contains(r.err.Error(), "--help") {
			t.Errorf("jmqx %s: %q does not point to --help", strings.Join(tt.args, " "), r.err)
		}
	}
}

func TestClientServerErrors(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin()
	mustFail(t, f, "", `tenant "x" not found`, "tenant", "show", "x")
	mustFail(t, f, "", `tenant "x" not found`, "tenant", "delete", "x", "--json")
	f.fail = &admin.Error{Status: http.StatusForbidden, Message: "invalid token"}
	mustFail(t, f, "", "invalid token", "tenant", "list")
	mustFail(t, f, "", "invalid token", "cluster", "members", "--json")
}

// clientGroups returns the client command groups of a fresh app.
func clientGroups(t *testing.T) []*cli.Command {
	t.Helper()
	var groups []*cli.Command
	for _, c := range newApp(appEnv{}).Commands {
		if len(c.Subcommands) > 0 {
			groups = append(groups, c)
		}
	}
	if len(groups) < 4 {
		t.Fatalf("found %d client command groups, want tenant, user, acl and cluster", len(groups))
	}
	return groups
}

func TestClientHelpComplete(t *testing.T) {
	t.Parallel()
	for _, g := range clientGroups(t) {
		r := mustRun(t, newFakeAdmin(), "", g.Name, "--help")
		for _, sub := range g.Subcommands {
			if !strings.Contains(r.stdout, sub.Name) || sub.Usage == "" {
				t.Errorf("jmqx %s --help lacks %s, or it has no usage", g.Name, sub.Name)
			}
			full := g.Name + " " + sub.Name
			for _, args := range [][]string{{g.Name, sub.Name, "--help"}, {g.Name, sub.Name, "x", "--help"}} {
				help := mustRun(t, newFakeAdmin(), "", args...).stdout
				if !strings.Contains(help, "jmqx "+full) {
					t.Errorf("jmqx %s: help lacks its usage line:\n%s", strings.Join(args, " "), help)
				}
				for _, fl := range sub.Flags {
					df, ok := fl.(cli.DocGenerationFlag)
					if !ok || df.GetUsage() == "" {
						t.Errorf("jmqx %s --%s has no usage", full, fl.Names()[0])
					}
					if !strings.Contains(help, "--"+fl.Names()[0]) {
						t.Errorf("jmqx %s --help lacks --%s", full, fl.Names()[0])
					}
				}
			}
			if sub.ArgsUsage != "" && !strings.Contains(mustRun(t, newFakeAdmin(), "", g.Name, sub.Name, "--help").stdout, sub.ArgsUsage) {
				t.Errorf("jmqx %s --help lacks %s", full, sub.ArgsUsage)
			}
		}
	}
	top := mustRun(t, newFakeAdmin(), "", "--help").stdout
	for _, g := range clientGroups(t) {
		if !strings.Contains(top, g.Name) || g.Usage == "" {
			t.Errorf("jmqx --help lacks %s, or it has no usage", g.Name)
		}
	}
}
