package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmqx/jmqx/internal/testwait"
	"github.com/jmqx/jmqx/tenant"
)

// Bad flags and unknown commands are one error line (which main prints on
// stderr, exiting 1) pointing to --help; nothing goes to stdout.
func TestUsageErrorsGoToStderr(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "flag provided but not defined: -bogus (see jmqx --help)"},
		{[]string{"bogus"}, `unknown command "bogus" (see jmqx --help)`},
		{[]string{"serve", "--bogus"}, "serve: flag provided but not defined: -bogus (see jmqx serve --help)"},
		{[]string{"cert", "--bogus"}, "cert: flag provided but not defined: -bogus (see jmqx cert --help)"},
		{[]string{"serve", "--max-keepalive", "x"}, "serve: invalid value"},
	} {
		mustFail(t, newFakeAdmin(), "", tt.want, tt.args...)
	}
	if r := mustRun(t, newFakeAdmin(), ""); !strings.Contains(r.stdout, "serve") {
		t.Errorf("jmqx without arguments: help lacks serve:\n%s", r.stdout)
	}
}

// "--" ends the flags, so that any name can be given, even one that starts
// with '-' (allowed by earlier versions).
func TestDoubleDashEndsFlags(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin(tenant.Spec{Name: "-old"})
	mustFail(t, f, "", "flag provided but not defined: -old", "tenant", "delete", "-old")
	mustRun(t, f, "", "tenant", "delete", "--json", "--", "-old")
	if len(f.writes) != 1 || f.writes[0] != "DeleteTenant -old" {
		t.Errorf("writes = %v; want DeleteTenant -old", f.writes)
	}
	mustFail(t, f, "", `must not start with '-'`, "tenant", "create", "--", "-lead")
	mustRun(t, f, "", "tenant", "create", "--ws-port", "off", "--", "a-1")
	if got := f.spec(t, "a-1").Listeners.WS; got != tenant.PortOff {
		t.Errorf("ws port = %q; the flag before -- was not applied", got)
	}
}

// tenant create returns at once, saying why, when the spec turns no
// listener on: there is nothing for the nodes to bind.
func TestTenantCreateWithoutListenersReturnsAtOnce(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--mqtt-port", "off", "--ws-port", "off", "--mqtts-port", "off", "--wss-port", "off"}, "every listener is off"},
		{[]string{"--mqtt-port", "off", "--ws-port", "off"}, "only nodes with a TLS certificate"},
	} {
		f := newFakeAdmin()
		f.nodes = nil // no node reports
		start := time.Now()
		r := mustRun(t, f, "", append([]string{"tenant", "create", "quiet"}, tt.flags...)...)
		if d := time.Since(start); d > defaultBindWait/2 {
			t.Errorf("tenant create %v took %v; want no wait", tt.flags, d)
		}
		if !strings.Contains(r.stdout, tt.want) {
			t.Errorf("tenant create %v printed %q; want %q", tt.flags, r.stdout, tt.want)
		}
	}
}

// The client commands wait, up to --start-wait, for a node that has no
// leader yet.
func TestClientWaitsForAStartingNode(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) <= 2 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"no leader elected yet; retry shortly"}`))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	run := func(args ...string) error {
		app := newApp(appEnv{stdout: &strings.Builder{}, stderr: &strings.Builder{}})
		return app.RunContext(context.Background(), append([]string{"jmqx", "tenant", "delete", "a", "--server", srv.URL}, args...))
	}
	if err := run(); err != nil || calls.Load() != 3 {
		t.Errorf("tenant delete = %v after %d requests; want success after 3", err, calls.Load())
	}
	calls.Store(0)
	if err := run("--start-wait", "0"); err == nil || !strings.Contains(err.Error(), "no leader") {
		t.Errorf("tenant delete --start-wait 0 = %v; want no leader at once", err)
	}
	calls.Store(-100)
	err := run("--start-wait", "300ms")
	if err == nil || !strings.Contains(err.Error(), "after waiting") {
		t.Errorf("tenant delete --start-wait 300ms = %v; want it to give up saying it waited", err)
	}
}

// A joining node says which of its default-tenant flags it ignores.
func TestServeJoinWarnsOfIgnoredTenantFlags(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	r := start(t, "serve", "--data-dir", t.TempDir(), "--join", dead, "--mqtt-addr", "127.0.0.1:0", "--max-keepalive", "30")
	testwait.Until(t, waitTimeout, func() error {
		if logs := r.logs.String(); !strings.Contains(logs, "ignored_flags") {
			return fmt.Errorf("no warning of ignored flags:\n%s", logs)
		}
		return nil
	})
	logs := r.logs.String()
	for _, want := range []string{"--mqtt-addr", "--max-keepalive", "jmqx tenant update default"} {
		if !strings.Contains(logs, want) {
			t.Errorf("warning lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "--wss-addr") {
		t.Errorf("warning names --wss-addr, which was not given:\n%s", logs)
	}
}
