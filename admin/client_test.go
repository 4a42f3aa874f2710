package admin

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewClientAddress(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                          "http://127.0.0.1:18083",
		"10.0.0.1:9000":             "http://10.0.0.1:9000",
		"http://10.0.0.1:9000/":     "http://10.0.0.1:9000",
		"https://admin.example:443": "https://admin.example:443",
	} {
		c, err := NewClient(in, "")
		if err != nil || c.base != want {
			t.Errorf("NewClient(%q) base = %v, %v; want %s", in, c, err, want)
		}
	}
	for _, in := range []string{"ftp://x:1", "http://"} {
		if _, err := NewClient(in, ""); err == nil {
			t.Errorf("NewClient(%q) accepted", in)
		}
	}
}

func TestClientCannotReach(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	c, err := NewClient(addr, "")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Health(ctxT(t))
	want := "cannot reach jmqx admin API at http://" + addr + ": "
	if err == nil || !strings.HasPrefix(err.Error(), want) ||
		!strings.HasSuffix(err.Error(), `; is "jmqx serve" running? (set --server or JMQX_SERVER)`) ||
		strings.Contains(err.Error(), `Get "`) {
		t.Errorf("Health() = %v", err)
	}
}

func TestErrorIs(t *testing.T) {
	t.Parallel()
	for status, want := range map[int]error{400: ErrInvalid, 404: ErrNotFound, 409: ErrExists, 503: ErrNotLeader} {
		err := error(&Error{Status: status, Message: "m"})
		if !errors.Is(err, want) {
			t.Errorf("Error{%d} is not %v", status, want)
		}
		if errors.Is(&Error{Status: http.StatusInternalServerError}, want) {
			t.Errorf("500 is %v", want)
		}
	}
}

// recordingServer answers every request with status (after the first
// fails requests, which get 503 with Retry-After) and records the method
// and Content-Type of each.
type recordingServer struct {
	mu    sync.Mutex
	seen  []string // "METHOD content-type"
	fails int
}

func (rs *recordingServer) start(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.mu.Lock()
		rs.seen = append(rs.seen, r.Method+" "+r.Header.Get("Content-Type"))
		n := len(rs.seen)
		rs.mu.Unlock()
		if n <= rs.fails {
			w.Header().Set("Retry-After", "1")
			writeError(w, errNoLeader)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (rs *recordingServer) requests() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return slices.Clone(rs.seen)
}

func TestClientSendsJSONOnEveryWrite(t *testing.T) {
	t.Parallel()
	rs := &recordingServer{}
	c, err := NewClient(rs.start(t), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	_ = c.DeleteTenant(ctx, "a")
	_ = c.RemoveUser(ctx, "a", "u")
	_ = c.RemoveMember(ctx, "n2")
	_ = c.AddUser(ctx, "a", "u", testHash)
	_ = c.Join(ctx, MemberView{ID: "n2"})
	_, _ = c.Tenants(ctx)
	for _, got := range rs.requests() {
		method, ct, _ := strings.Cut(got, " ")
		if method != http.MethodGet && ct != "application/json" {
			t.Errorf("%s sent Content-Type %q; want application/json", method, ct)
		}
	}
}

func TestClientStartWaitRetriesNoLeader(t *testing.T) {
	t.Parallel()
	rs := &recordingServer{fails: 2}
	c, err := NewClient(rs.start(t), "", WithStartWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTenant(ctxT(t), "a"); err != nil {
		t.Fatalf("DeleteTenant after two 503s = %v; want success", err)
	}
	if n := len(rs.requests()); n != 3 {
		t.Errorf("%d requests; want 3", n)
	}

	// Without the option: one attempt, the 503 as it came.
	rs = &recordingServer{fails: 1}
	c, _ = NewClient(rs.start(t), "")
	if err := c.DeleteTenant(ctxT(t), "a"); !errors.Is(err, ErrNotLeader) || len(rs.requests()) != 1 {
		t.Errorf("without start wait: %v after %d requests; want ErrNotLeader after 1", err, len(rs.requests()))
	}
}

func TestClientStartWaitGivesUp(t *testing.T) {
	t.Parallel()
	rs := &recordingServer{fails: 1 << 30}
	c, _ := NewClient(rs.start(t), "", WithStartWait(500*time.Millisecond))
	start := time.Now()
	err := c.DeleteTenant(ctxT(t), "a")
	if !errors.Is(err, ErrNotLeader) || !strings.Contains(err.Error(), "no leader elected yet") ||
		!strings.Contains(err.Error(), "after waiting") {
		t.Errorf("DeleteTenant with no leader = %v; want the 503 saying how long it waited", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("gave up after %v; want about 500ms", d)
	}

	addr := closedAddr(t)
	c, _ = NewClient(addr, "", WithStartWait(500*time.Millisecond))
	err = c.Health(ctxT(t))
	if err == nil || !strings.Contains(err.Error(), "cannot reach jmqx admin API") || !strings.Contains(err.Error(), "waited") {
		t.Errorf("Health on a closed port = %v; want cannot reach, after a wait", err)
	}
}

// A 503 without Retry-After may have been written: it is not sent again.
func TestClientStartWaitKeepsOtherErrors(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		writeError(w, errorf(http.StatusServiceUnavailable, "cannot reach the leader"))
	}))
	t.Cleanup(srv.Close)
	c, _ := NewClient(srv.URL, "", WithStartWait(5*time.Second))
	if err := c.DeleteTenant(ctxT(t), "a"); err == nil || n.Load() != 1 {
		t.Errorf("DeleteTenant = %v after %d requests; want the error after 1", err, n.Load())
	}
}
