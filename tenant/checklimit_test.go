package tenant

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/bcrypt"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
	"github.com/jmqx/jmqx/internal/testwait"
)

// pwWaitFor is the deadline of anything these tests wait on.
const pwWaitFor = 5 * time.Second

// waitUntil polls cond until it holds, failing the test after pwWaitFor.
func pwWaitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Until(t, pwWaitFor, func() error {
		if !cond() {
			return errors.New(what)
		}
		return nil
	})
}

// gateHash is a hasher standing for a slow hash: verify signals entered,
// then blocks until release, and matches the password "pw". It counts the
// verifications running at once.
type gateHash struct {
	entered chan struct{}
	release chan struct{}
	running atomic.Int32
	peak    atomic.Int32
}

func (h *gateHash) verify(password []byte) bool {
	n := h.running.Add(1)
	for p := h.peak.Load(); n > p && !h.peak.CompareAndSwap(p, n); p = h.peak.Load() {
	}
	defer h.running.Add(-1)
	h.entered <- struct{}{}
	<-h.release
	return string(password) == "pw"
}

// gateGuard returns a guard for user "u" whose one hash is a gateHash,
// limited to n concurrent checks that wait at most wait, logging to an
// observer.
func gateGuard(t *testing.T, n int, wait time.Duration) (*guard, *gateHash, *observer.ObservedLogs) {
	t.Helper()
	a := mustAccess(t, Spec{Name: "t", Auth: Auth{Users: []User{{Name: "u", PasswordHashes: []string{testHash(t, "pw")}}}}})
	gh := &gateHash{entered: make(chan struct{}), release: make(chan struct{})}
	a.users["u"][0].h = gh
	g := newGuard(a)
	core, logs := observer.New(zap.InfoLevel)
	g.checks, g.log = newCheckLimiter(n, wait), zap.New(core)
	return g, gh, logs
}

// startCheck runs Authenticate for u with password in a goroutine; its
// result arrives on the returned channel.
func startCheck(g *guard, password string) <-chan packet.ReasonCode {
	done := make(chan packet.ReasonCode, 1)
	go func() {
		done <- g.Authenticate(&broker.AuthRequest{Username: "u", ClientID: "c", Password: []byte(password)})
	}()
	return done
}

// recv returns the next value of ch, failing the test after pwWaitFor.
func pwRecv[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(pwWaitFor):
		t.Fatalf("not within %s: %s", pwWaitFor, what)
		panic("unreachable")
	}
}

func TestPasswordCheckWaitsForSlot(t *testing.T) {
	g, gh, logs := gateGuard(t, 1, pwWaitFor)
	first := startCheck(g, "pw")
	pwRecv(t, "first check running", gh.entered)
	second := startCheck(g, "pw")
	pwWaitUntil(t, "second check waiting for the slot", func() bool { return g.checks.waiters() == 1 })
	select {
	case <-gh.entered:
		t.Fatal("second check ran while the first held the only slot")
	default:
	}
	gh.release <- struct{}{}
	if rc := pwRecv(t, "first result", first); rc != packet.Success {
		t.Fatalf("first check = %v, want Success", rc)
	}
	pwRecv(t, "second check running once the slot is free", gh.entered)
	gh.release <- struct{}{}
	if rc := pwRecv(t, "second result", second); rc != packet.Success {
		t.Fatalf("second check = %v, want Success", rc)
	}
	if p := gh.peak.Load(); p != 1 {
		t.Errorf("%d checks ran at once, limit 1", p)
	}
	if n := g.checks.inUse(); n != 0 {
		t.Errorf("%d slots still taken", n)
	}
	if logs.Len() != 0 {
		t.Errorf("logged %v, want nothing", logs.All())
	}
}

func TestPasswordCheckRefusalLeaksNoSlot(t *testing.T) {
	g, gh, logs := gateGuard(t, 1, 20*time.Millisecond)
	first := startCheck(g, "pw")
	pwRecv(t, "first check running", gh.entered)

	// The slot stays taken: the others are refused after the wait, and
	// each refusal is logged once with the user name.
	for i := range 3 {
		req := broker.AuthRequest{Username: "u", ClientID: fmt.Sprint("c", i), Password: []byte("pw")}
		if rc := g.Authenticate(&req); rc != packet.ServerBusy {
			t.Fatalf("check without a slot = %v, want ServerBusy", rc)
		}
		if req.Tag != nil {
			t.Errorf("refused check tagged %#v", req.Tag)
		}
	}
	busy := logs.FilterField(zap.String("user", "u")).FilterMessageSnippet("server busy")
	if busy.Len() != 3 || logs.Len() != 3 {
		t.Errorf("logged %v, want one server-busy line per refusal with the user name", logs.All())
	}
	if n, w := g.checks.inUse(), g.checks.waiters(); n != 1 || w != 0 {
		t.Errorf("after refusals: %d slots taken, %d waiting; want 1, 0", n, w)
	}

	// A cached credential needs no slot, even with every slot taken.
	gh.release <- struct{}{}
	if rc := pwRecv(t, "first result", first); rc != packet.Success {
		t.Fatalf("first check = %v, want Success", rc)
	}
	other := startCheck(g, "wrong")
	pwRecv(t, "wrong-password check running", gh.entered)
	if rc := g.Authenticate(&broker.AuthRequest{Username: "u", Password: []byte("pw")}); rc != packet.Success {
		t.Errorf("cached credential with no free slot = %v, want Success", rc)
	}
	gh.release <- struct{}{}
	if rc := pwRecv(t, "wrong-password result", other); rc != packet.BadUsernameOrPassword {
		t.Errorf("wrong password = %v, want BadUsernameOrPassword", rc)
	}
	if n := g.checks.inUse(); n != 0 {
		t.Fatalf("%d slots still taken after every check ended", n)
	}

	// The slot is free again: the next check takes it without waiting.
	next := startCheck(g, "again")
	pwRecv(t, "check after refusals running", gh.entered)
	gh.release <- struct{}{}
	if rc := pwRecv(t, "last result", next); rc != packet.BadUsernameOrPassword {
		t.Errorf("last check = %v, want BadUsernameOrPassword", rc)
	}
}

func TestCheckLimiterNil(t *testing.T) {
	var l *checkLimiter
	if !l.acquire() {
		t.Fatal("nil limiter refused")
	}
	l.release()
}

func TestPasswordHashBounds(t *testing.T) {
	salt, key := "c2FsdHNhbHRzYWx0", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5"
	a2 := func(m, tm, p int) string {
		return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, tm, p, salt, key)
	}
	b4, err := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	bcryptCost := func(cost int) string {
		return strings.Replace(string(b4), "$04$", fmt.Sprintf("$%02d$", cost), 1)
	}
	spec := func(hash string) Spec {
		return Spec{Name: "t", Auth: Auth{Users: []User{
			{Name: "a", PasswordHashes: []string{testHash(t, "x")}},
			{Name: "b", PasswordHashes: []string{testHash(t, "x"), hash}},
		}}}
	}
	for _, ok := range []string{a2(MaxArgon2Memory, 1, 1), a2(64, MaxArgon2Time, MaxArgon2Threads), bcryptCost(MaxBcryptCost)} {
		if err := spec(ok).Validate(); err != nil {
			t.Errorf("hash at the bounds %q: %v", ok, err)
		}
	}
	for _, tt := range []struct{ hash, want string }{
		{a2(MaxArgon2Memory+1, 1, 1), "parameter m=65537: must be 1..65536 KiB (64 MiB)"},
		{a2(256<<10, 1, 1), "parameter m=262144: must be 1..65536 KiB"},
		{a2(1<<20, 1, 1), "parameter m=1048576: must be 1..65536 KiB"},
		{a2(64, MaxArgon2Time+1, 1), "parameter t=17: must be 1..16"},
		{a2(64, 1, MaxArgon2Threads+1), "parameter p=17: must be 1..16"},
		{bcryptCost(MaxBcryptCost + 1), "cost 17: must be at most 16"},
	} {
		err := spec(tt.hash).Validate()
		if err == nil {
			t.Errorf("Validate accepted %q", tt.hash)
			continue
		}
		want := `tenant "t": auth.users[1].password_hashes[1]: `
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%q) = %v\nwant it to name %q and %q", tt.hash, err, want, tt.want)
		}
	}
}

func TestHostConfigPasswordChecks(t *testing.T) {
	if err := (HostConfig{MaxConcurrentPasswordChecks: -1}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "max_concurrent_password_checks -1") {
		t.Errorf("negative max_concurrent_password_checks: Validate() = %v", err)
	}
	for _, tt := range []struct {
		cfg   HostConfig
		limit int
		wait  time.Duration
	}{
		{HostConfig{}, max(1, runtime.GOMAXPROCS(0)/2), PasswordCheckWait},
		{HostConfig{MaxConcurrentPasswordChecks: 3}, 3, PasswordCheckWait},
		{HostConfig{Broker: BrokerSettings{ConnectTimeout: time.Second}}, max(1, runtime.GOMAXPROCS(0)/2), time.Second},
	} {
		h, err := NewHost(tt.cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close(context.Background())
		if h.checks.limit() != tt.limit || h.checks.wait != tt.wait {
			t.Errorf("%+v: limit %d, wait %s; want %d, %s", tt.cfg, h.checks.limit(), h.checks.wait, tt.limit, tt.wait)
		}
		if h.cfg.MaxConcurrentPasswordChecks != tt.limit {
			t.Errorf("%+v: MaxConcurrentPasswordChecks = %d, want %d", tt.cfg, h.cfg.MaxConcurrentPasswordChecks, tt.limit)
		}
	}
}
