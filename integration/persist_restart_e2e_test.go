package integration

// End-to-end tests of what a restart does with the tenants' stores: an
// expired session is dropped and its will published once, a lowered
// queue limit cuts the reloaded queue, a deleted tenant's file goes, and
// a corrupt file fails only its tenant. They use persist_e2e_test.go's
// helpers and cli_e2e_test.go's harness.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPersistSessionExpiryCountsDowntime: a session with a 3 s expiry,
// disconnected when its node stops, is gone when the node restarts after
// more than 3 s, and its will (delayed a minute, so due at the session's
// end) is published once, to a persistent subscriber; a session with a
// long expiry is still there.
func TestPersistSessionExpiryCountsDowntime(t *testing.T) {
	t.Parallel()
	n := persistNode(t)
	at := &node{addr: createPersistTenant(t, n, "exp", "--persistence", "sync")}
	watch := dialV5(t, at, "watch", sessionExpiry(3600))
	watch.subscribe("will/#", 1)
	closeV5(watch)
	closeV5(dialV5(t, at, "long", sessionExpiry(3600)))
	dialV5(t, at, "short", sessionExpiry(3), will("will/short", "gone", 1, 60))

	if err := n.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	// Wall time must pass while the node is down: nothing happens that a
	// test could wait on instead.
	eventually(t, 10*time.Second, func() error {
		if d := time.Since(stopped); d < 3500*time.Millisecond {
			return fmt.Errorf("down for %v", d)
		}
		return nil
	})
	n.start(false)
	at = &node{addr: waitTenantMQTT(t, n.admin, "exp", 1, 10*time.Second)[n.id]}
	if c := dialV5(t, at, "short", cleanStart(false), sessionExpiry(3)); c.connack.SessionPresent {
		t.Error("short: the expired session is present after the restart")
	}
	if c := dialV5(t, at, "long", cleanStart(false), sessionExpiry(3600)); !c.connack.SessionPresent {
		t.Error("long: the session is gone after the restart")
	}
	watch = dialV5(t, at, "watch", cleanStart(false), sessionExpiry(3600))
	if m := expectMessage(t, watch.msgs, waitFor); m.Topic != "will/short" || m.Payload != "gone" {
		t.Fatalf("watch got %v, want short's will", m)
	}
	dialV5(t, at, "s1").publish("will/end", "end1", 1, false)
	expectNoMessage(t, watch.msgs, "end1")
	closeV5(watch)

	// Published once: not again at the next start.
	at = &node{addr: n.restart(syscall.SIGTERM, "exp")}
	watch = dialV5(t, at, "watch", cleanStart(false), sessionExpiry(3600))
	dialV5(t, at, "s2").publish("will/end", "end2", 1, false)
	expectNoMessage(t, watch.msgs, "end2")
}

// TestPersistQueueLimitAfterReload: a session's queue of 50 messages,
// saved, is cut to its oldest 10 when the tenant's max_queued_messages is
// lowered to 10 before the restart that loads it.
func TestPersistQueueLimitAfterReload(t *testing.T) {
	t.Parallel()
	n := persistNode(t)
	at := &node{addr: createPersistTenant(t, n, "quota", "--persistence", "sync")}
	sub := dialV5(t, at, "sub", sessionExpiry(3600))
	sub.subscribe("q/#", 1)
	closeV5(sub)
	pub := dialV5(t, at, "pub")
	for i := range 50 {
		pub.publish("q/n", fmt.Sprint(i), 1, false)
	}
	mustCLI(t, n.admin, "", "tenant", "update", "quota", "--max-queued-messages", "10")

	at = &node{addr: n.restart(syscall.SIGTERM, "quota")}
	sub = dialV5(t, at, "sub", cleanStart(false), sessionExpiry(3600))
	for i := range 10 { // the oldest are kept
		if m := expectMessage(t, sub.msgs, waitFor); m.Payload != fmt.Sprint(i) {
			t.Fatalf("queued message %d: %v, want %d", i, m, i)
		}
	}
	dialV5(t, at, "end").publish("q/end", "end", 1, false)
	expectNoMessage(t, sub.msgs, "end")
}

// TestPersistDeletedTenantFile: deleting a tenant deletes its store file;
// the file of a tenant deleted while the node was down (one the Raft
// state does not hold) is deleted after the restart, with a log line.
func TestPersistDeletedTenantFile(t *testing.T) {
	t.Parallel()
	n := persistNode(t)
	createPersistTenant(t, n, "gone")
	createPersistTenant(t, n, "kept")
	file := storeFile(n, "gone")
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("store of a running tenant: %v", err)
	}
	mustCLI(t, n.admin, "", "tenant", "delete", "gone")
	eventually(t, 10*time.Second, func() error { return missing(file) })

	if err := n.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	kept, err := os.ReadFile(storeFile(n, "kept"))
	if err != nil {
		t.Fatal(err)
	}
	ghost := storeFile(n, "ghost")
	if err := os.WriteFile(ghost, kept, 0o600); err != nil {
		t.Fatal(err)
	}
	n.start(false)
	eventually(t, 10*time.Second, func() error { return missing(ghost) })
	if !n.logHas(`deleted while this node was down`) || !n.logHas(ghost) {
		t.Errorf("no log line for the deletion of %s:\n%s", ghost, n.log())
	}
	if _, err := os.Stat(storeFile(n, "kept")); err != nil {
		t.Errorf("store of a live tenant after the restart: %v", err)
	}
}

// missing returns nil once the file at path does not exist.
func missing(path string) error {
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: still there (%v)", path, err)
	}
	return nil
}

// TestPersistCorruptStore: a store file overwritten while the node was
// down fails its tenant at the restart, with the file named in `tenant
// show`, `tenant status` and the log; the node and its other tenants serve.
func TestPersistCorruptStore(t *testing.T) {
	t.Parallel()
	n := persistNode(t)
	createPersistTenant(t, n, "bad")
	createPersistTenant(t, n, "good")
	if err := n.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	file := storeFile(n, "bad")
	if err := os.WriteFile(file, []byte(strings.Repeat("scribbled over ", 4096)), 0o600); err != nil {
		t.Fatal(err)
	}
	n.start(false)
	closeV5(eventuallyConnect(t, waitTenantMQTT(t, n.admin, "good", 1, 10*time.Second)[n.id], "c"))
	eventually(t, 10*time.Second, func() error {
		out, err := jmqxCLI(t, n.admin, "", "tenant", "show", "bad", "--json")
		if err != nil {
			return err
		}
		var v struct {
			Nodes []struct {
				Error string `json:"error"`
			} `json:"nodes"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			return err
		}
		if len(v.Nodes) != 1 || !strings.Contains(v.Nodes[0].Error, file) {
			return fmt.Errorf("tenant show bad: %s", out)
		}
		return nil
	})
	st, err := tenantStatus(t, n.admin, "bad")
	if err != nil || !strings.Contains(st[n.id].Error, file) {
		t.Errorf("tenant status bad: %+v, %v; want the error naming %s", st, err, file)
	}
	if !n.logHas(file) {
		t.Errorf("the log does not name %s:\n%s", file, n.log())
	}
}
