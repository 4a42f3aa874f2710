package admin

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jmqx/jmqx/tenant"
)

// clientTimeout bounds one request of a Client by default.
const clientTimeout = 30 * time.Second

// Error is an error answered by the admin API. Error returns Message, the
// server's explanation; errors.Is matches it against ErrInvalid,
// ErrNotFound, ErrExists and ErrNotLeader by Status.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Message is the server's explanation, meant for a person.
	Message string
}

// Error returns the server's message.
func (e *Error) Error() string { return e.Message }

// Is reports whether target is the sentinel matching e's status.
func (e *Error) Is(target error) bool {
	st := sentinelStatus(target)
	return st != 0 && e.Status == st
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithHTTPClient makes the Client send its requests with hc. Default: an
// http.Client with a 30s timeout.
func WithHTTPClient(hc *http.Client) ClientOption {
	return func(c *Client) { c.hc = hc }
}

// WithTLSConfig makes the Client verify an https:// server with c (its
// RootCAs: a private CA). Default: the system's roots.
func WithTLSConfig(c *tls.Config) ClientOption {
	return func(cl *Client) {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = c
		cl.hc = &http.Client{Timeout: clientTimeout, Transport: t}
	}
}

// WithStartWait makes the Client wait up to d for a node that is starting:
// a request whose connection is refused, or that is answered 503 with
// Retry-After (no leader elected yet: nothing was written), is sent again
// with a growing pause (100 ms to 1 s) until it gets another answer or d
// has passed. Either way nothing was done, so a write is never applied
// twice. Default 0: no retry.
func WithStartWait(d time.Duration) ClientOption {
	return func(c *Client) { c.startWait = d }
}

// Client calls a jmqx admin API. It is safe for concurrent use.
type Client struct {
	base      string
	token     string
	hc        *http.Client
	startWait time.Duration
}

// NewClient returns a Client of the admin API at server, "host:port" or
// "http://host:port" (default DefaultAddr), sending token when it is not
// empty.
func NewClient(server, token string, opts ...ClientOption) (*Client, error) {
	if server == "" {
		server = DefaultAddr
	}
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("admin: server address %q: %w", server, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("admin: server address %q: scheme must be http or https", server)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("admin: server address %q has no host", server)
	}
	c := &Client{
		base:  strings.TrimSuffix(u.Scheme+"://"+u.Host+u.Path, "/"),
		token: token,
		hc:    &http.Client{Timeout: clientTimeout},
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Health checks that the server answers: GET /healthz.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil)
}

// Ready checks that the node has a leader and has reconciled: GET /readyz.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/readyz", nil, nil)
}

// Tenants lists the tenants, sorted by name.
func (c *Client) Tenants(ctx context.Context) ([]TenantView, error) {
	var out []TenantView
	return out, c.do(ctx, http.MethodGet, "/v1/tenants", nil, &out)
}

// Tenant returns one tenant.
func (c *Client) Tenant(ctx context.Context, name string) (TenantView, error) {
	var out TenantView
	return out, c.do(ctx, http.MethodGet, tenantPath(name), nil, &out)
}

// CreateTenant creates a tenant; ErrExists if a different one of that
// name exists.
func (c *Client) CreateTenant(ctx context.Context, spec tenant.Spec) (TenantView, error) {
	var out TenantView
	return out, c.do(ctx, http.MethodPost, "/v1/tenants", spec, &out)
}

// PutTenant creates or replaces the tenant spec.Name.
func (c *Client) PutTenant(ctx context.Context, spec tenant.Spec) (TenantView, error) {
	var out TenantView
	return out, c.do(ctx, http.MethodPut, tenantPath(spec.Name), spec, &out)
}

// UpdateTenant replaces a tenant's spec if it is still at revision (from
// a TenantView); otherwise it fails with an error matching ErrChanged.
// An empty revision writes unconditionally, as PutTenant.
func (c *Client) UpdateTenant(ctx context.Context, spec tenant.Spec, revision string) (TenantView, error) {
	var v TenantView
	err := c.doIf(ctx, http.MethodPut, tenantPath(spec.Name), revision, spec, &v)
	return v, err
}

// UpdateACL replaces a tenant's ACL if the tenant is still at revision;
// otherwise it fails with an error matching ErrChanged.
func (c *Client) UpdateACL(ctx context.Context, tenantName string, acl tenant.ACL, revision string) error {
	return c.doIf(ctx, http.MethodPut, tenantPath(tenantName)+"/acl", revision, acl, nil)
}

// DeleteTenant deletes a tenant.
func (c *Client) DeleteTenant(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, tenantPath(name), nil, nil)
}

// TenantStatus returns every node's live figures for a tenant.
func (c *Client) TenantStatus(ctx context.Context, name string) ([]NodeStatus, error) {
	var out []NodeStatus
	return out, c.do(ctx, http.MethodGet, tenantPath(name)+"/status", nil, &out)
}

// Users lists a tenant's users.
func (c *Client) Users(ctx context.Context, tenantName string) ([]UserView, error) {
	var out []UserView
	return out, c.do(ctx, http.MethodGet, tenantPath(tenantName)+"/users", nil, &out)
}

// AddUser adds a user with one password hash (see tenant.HashPassword);
// ErrExists if the user exists.
func (c *Client) AddUser(ctx context.Context, tenantName, name, passwordHash string) error {
	body := credentialRequest{Name: name, PasswordHash: passwordHash}
	return c.do(ctx, http.MethodPost, tenantPath(tenantName)+"/users", body, nil)
}

// RotateUser adds a password hash to a user; with revokeOld it replaces
// all the user's hashes.
func (c *Client) RotateUser(ctx context.Context, tenantName, name, passwordHash string, revokeOld bool) error {
	body := credentialRequest{PasswordHash: passwordHash, RevokeOld: revokeOld}
	return c.do(ctx, http.MethodPost, userPath(tenantName, name)+"/rotate", body, nil)
}

// RemoveUser removes a user.
func (c *Client) RemoveUser(ctx context.Context, tenantName, name string) error {
	return c.do(ctx, http.MethodDelete, userPath(tenantName, name), nil, nil)
}

// ACL returns a tenant's ACL.
func (c *Client) ACL(ctx context.Context, tenantName string) (tenant.ACL, error) {
	var out tenant.ACL
	return out, c.do(ctx, http.MethodGet, tenantPath(tenantName)+"/acl", nil, &out)
}

// PutACL replaces a tenant's ACL.
func (c *Client) PutACL(ctx context.Context, tenantName string, acl tenant.ACL) error {
	return c.do(ctx, http.MethodPut, tenantPath(tenantName)+"/acl", acl, nil)
}

// AddRule inserts rule at position (0-based; negative appends) and
// returns the new ACL.
func (c *Client) AddRule(ctx context.Context, tenantName string, rule tenant.Rule, position int) (tenant.ACL, error) {
	body := ruleRequest{Rule: rule}
	if position >= 0 {
		body.Position = &position
	}
	var out tenant.ACL
	return out, c.do(ctx, http.MethodPost, tenantPath(tenantName)+"/acl/rules", body, &out)
}

// RemoveRule removes the rule at index (0-based) and returns the new ACL.
func (c *Client) RemoveRule(ctx context.Context, tenantName string, index int) (tenant.ACL, error) {
	var out tenant.ACL
	path := tenantPath(tenantName) + "/acl/rules/" + strconv.Itoa(index)
	return out, c.do(ctx, http.MethodDelete, path, nil, &out)
}

// Members lists the cluster members.
func (c *Client) Members(ctx context.Context) ([]MemberView, error) {
	var out []MemberView
	return out, c.do(ctx, http.MethodGet, "/v1/cluster/members", nil, &out)
}

// Join adds m (ID, RaftAddr and AdminAddr set; GossipAddr and
// ClusterAddr when its data plane is on) to the cluster: as a non-voter,
// promoted to voter once it has caught up. It sends only those fields,
// and the data-plane ones only when set, so that a node whose data plane
// is off can still join a leader that runs a jmqx without one.
func (c *Client) Join(ctx context.Context, m MemberView) error {
	return c.do(ctx, http.MethodPost, "/v1/cluster/join", joinRequest{
		ID: m.ID, RaftAddr: m.RaftAddr, AdminAddr: m.AdminAddr, GossipAddr: m.GossipAddr, ClusterAddr: m.ClusterAddr,
	}, nil)
}

// joinRequest is the body of POST /v1/cluster/join: the fields of a
// MemberView that a join records.
type joinRequest struct {
	ID          string `json:"id"`
	RaftAddr    string `json:"raft_addr"`
	AdminAddr   string `json:"admin_addr"`
	GossipAddr  string `json:"gossip_addr,omitempty"`
	ClusterAddr string `json:"cluster_addr,omitempty"`
}

// RemoveMember removes a member from the cluster.
func (c *Client) RemoveMember(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/cluster/members/"+url.PathEscape(id), nil, nil)
}

// Token returns the bearer token the client sends ("" for none).
func (c *Client) Token() string { return c.token }

// RecordBound reports the addresses node bound for a tenant's listeners.
func (c *Client) RecordBound(ctx context.Context, tenantName, node string, listeners map[string]string) error {
	return c.do(ctx, http.MethodPut, "/v1/tenants/"+url.PathEscape(tenantName)+"/nodes/"+url.PathEscape(node), listeners, nil)
}

// do sends one request with in as its JSON body (nil: none) and decodes
// a 2xx answer into out (nil: discard). A non-2xx answer is an *Error.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	return c.doIf(ctx, method, path, "", in, out)
}

// doIf is do with an If-Match header when revision is not empty.
func (c *Client) doIf(ctx context.Context, method, path, revision string, in, out any) error {
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("admin: encode %s %s: %w", method, path, err)
		}
		body = b
	}
	resp, waited, err := c.send(ctx, method, path, revision, body)
	var ue *url.Error
	if err != nil && !errors.As(err, &ue) {
		return err // it says what failed
	}
	if err != nil {
		msg := "is \"jmqx serve\" running? (set --server or JMQX_SERVER)"
		if waited > 0 {
			msg = fmt.Sprintf("waited %s for the node to start; %s", waited.Truncate(100*time.Millisecond), msg)
		}
		return fmt.Errorf("cannot reach jmqx admin API at %s: %w; %s", c.base, unwrapURLError(err), msg)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		err := responseError(resp)
		var ae *Error
		if waited > 0 && errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable {
			ae.Message += fmt.Sprintf(" (still so after waiting %s: is a majority of the cluster's nodes running?)",
				waited.Truncate(100*time.Millisecond))
		}
		return err
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBodyBytes))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("admin: %s %s: invalid answer from %s: %w", method, path, c.base, err)
	}
	return nil
}

// Pauses between the attempts of a request to a starting node.
const (
	startRetryFirst = 100 * time.Millisecond
	startRetryMax   = time.Second
)

// send sends one request, and again while the node is starting (see
// WithStartWait); waited is how long it waited when it did. The caller
// closes the answer's body.
func (c *Client) send(ctx context.Context, method, path, revision string, body []byte) (resp *http.Response, waited time.Duration, err error) {
	start := time.Now()
	deadline := start.Add(c.startWait)
	pause := startRetryFirst
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			waited = time.Since(start)
		}
		resp, err = c.sendOnce(ctx, method, path, revision, body)
		if !nodeStarting(resp, err) || time.Now().Add(pause).After(deadline) {
			return resp, waited, err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBodyBytes))
			_ = resp.Body.Close()
		}
		select {
		case <-ctx.Done():
			return nil, waited, fmt.Errorf("admin: %s %s: %w", method, path, ctx.Err())
		case <-time.After(pause):
		}
		pause = min(2*pause, startRetryMax)
	}
}

// nodeStarting reports whether an attempt met a node that is starting and
// did nothing with the request: the connection was refused, or the answer
// is 503 with Retry-After (no leader elected yet).
func nodeStarting(resp *http.Response, err error) bool {
	if err != nil {
		return errors.Is(err, syscall.ECONNREFUSED)
	}
	return resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != ""
}

// sendOnce sends one request with body as its JSON body (nil: none).
func (c *Client) sendOnce(ctx context.Context, method, path, revision string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("admin: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil || (method != http.MethodGet && method != http.MethodHead) {
		// Every write declares JSON, even without a body: the server
		// refuses writes of other types as cross-site (see guard).
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if revision != "" {
		req.Header.Set("If-Match", revision)
	}
	return c.hc.Do(req)
}

// responseError reads a non-2xx answer into an *Error, using the
// {"error": ...} body when there is one.
func responseError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var eb errorBody
	if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
		return &Error{Status: resp.StatusCode, Message: eb.Error}
	}
	msg := strings.TrimSpace(string(b))
	if msg == "" {
		msg = strings.ToLower(http.StatusText(resp.StatusCode))
	}
	return &Error{Status: resp.StatusCode, Message: fmt.Sprintf("%s (HTTP %d)", msg, resp.StatusCode)}
}

// unwrapURLError drops the `Get "http://…":` prefix net/http adds, which
// repeats what the caller already says.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// tenantPath is the API path of a tenant.
func tenantPath(name string) string { return "/v1/tenants/" + url.PathEscape(name) }

// userPath is the API path of a tenant's user.
func userPath(tenantName, user string) string {
	return tenantPath(tenantName) + "/users/" + url.PathEscape(user)
}
