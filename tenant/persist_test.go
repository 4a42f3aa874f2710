package tenant

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// storeClient is an MQTT 5 client whose received messages go to msgs.
type storeClient struct {
	*paho.Client
	ack  *paho.Connack
	msgs chan *paho.Publish
}

// dialStore connects an MQTT 5 client with clean start clean and a
// session expiry of an hour to tenant name's MQTT listener on h.
func dialStore(t *testing.T, h *Host, name, id string, clean bool) *storeClient {
	t.Helper()
	st, ok := h.Get(name)
	if !ok || st.Listeners[ListenerMQTT] == "" {
		t.Fatalf("tenant %s has no MQTT listener: %+v", name, st)
	}
	conn, err := net.Dial("tcp", st.Listeners[ListenerMQTT])
	if err != nil {
		t.Fatal(err)
	}
	c := &storeClient{msgs: make(chan *paho.Publish, 100)}
	c.Client = paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) { c.msgs <- pr.Packet; return true, nil },
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	expiry := uint32(3600)
	c.ack, err = c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: clean, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	if err != nil {
		_ = conn.Close()
		t.Fatalf("connect %s: %v", id, err)
	}
	t.Cleanup(func() { c.close() })
	return c
}

// close disconnects c normally (the session stays) and waits for it.
func (c *storeClient) close() {
	select {
	case <-c.Done():
	default:
		_ = c.Disconnect(&paho.Disconnect{})
		<-c.Done()
	}
}

// next returns the next message c received, failing after 10 s.
func (c *storeClient) next(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case p := <-c.msgs:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		return nil
	}
}

// do runs one acknowledged request of c (SUBSCRIBE, PUBLISH QoS 1).
func do[T any](t *testing.T, what string, f func(ctx context.Context) (T, error)) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := f(ctx)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return r
}

// storeHost is a Host keeping its tenants' stores in dir.
func storeHost(t *testing.T, dir string) *Host {
	t.Helper()
	h, _ := testHost(t, HostConfig{StoreDir: dir})
	return h
}

// A persistent MQTT 5 session, with the message queued for it while it
// was offline, and a retained message survive Host.Close and a new Host
// on the same store directory; the file is the node user's only.
func TestHostStoreSurvivesClose(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "store")
	h := storeHost(t, dir)
	spec := mqttOnly("acme", PortAuto)
	if _, err := h.Apply(spec); err != nil {
		t.Fatal(err)
	}
	sub := dialStore(t, h, "acme", "dev", true)
	do(t, "subscribe", func(ctx context.Context) (*paho.Suback, error) {
		return sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "cmd/#", QoS: 1}}})
	})
	sub.close()
	pub := dialStore(t, h, "acme", "pub", true)
	for _, p := range []*paho.Publish{
		{Topic: "state/lamp", Payload: []byte("on"), QoS: 1, Retain: true},
		{Topic: "cmd/1", Payload: []byte("reboot"), QoS: 1},
	} {
		do(t, "publish "+p.Topic, func(ctx context.Context) (*paho.PublishResponse, error) { return pub.Publish(ctx, p) })
	}
	pub.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "acme.db")
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("%s mode %v, want 0600", file, m)
	}

	h2 := storeHost(t, dir)
	if _, err := h2.Apply(spec); err != nil {
		t.Fatal(err)
	}
	again := dialStore(t, h2, "acme", "dev", false)
	if !again.ack.SessionPresent {
		t.Fatal("CONNACK session present false after the restart")
	}
	if p := again.next(t); p.Topic != "cmd/1" || string(p.Payload) != "reboot" || p.QoS != 1 {
		t.Errorf("queued message after the restart: %s %q qos %d", p.Topic, p.Payload, p.QoS)
	}
	reader := dialStore(t, h2, "acme", "reader", true)
	do(t, "subscribe", func(ctx context.Context) (*paho.Suback, error) {
		return reader.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "state/#", QoS: 1}}})
	})
	if p := reader.next(t); p.Topic != "state/lamp" || string(p.Payload) != "on" || !p.Retain {
		t.Errorf("retained message after the restart: %s %q retain %v", p.Topic, p.Payload, p.Retain)
	}
}

// Removing a tenant (deleting it) deletes its store file; closing the
// Host does not.
func TestHostRemoveDeletesStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h, logs := testHost(t, HostConfig{StoreDir: dir})
	for _, name := range []string{"gone", "kept"} {
		if _, err := h.Apply(mqttOnly(name, PortAuto)); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Remove("gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "gone.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("gone.db after Remove: %v, want it deleted", err)
	}
	if n := logs.FilterMessage("tenant store deleted").Len(); n != 1 {
		t.Errorf("%d deletions logged, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "kept.db")); err != nil {
		t.Errorf("kept.db after Close: %v, want it kept", err)
	}
}

// A store file that is not a store fails its tenant to start, with an
// error naming the file, in Reconcile's result, Failed and Status; the
// other tenants start. Removing the failed tenant deletes the file.
func TestHostCorruptStoreFailsOnlyItsTenant(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.db")
	if err := os.WriteFile(bad, []byte(strings.Repeat("not a bbolt file ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	h, logs := testHost(t, HostConfig{StoreDir: dir})
	err := h.Reconcile([]Spec{mqttOnly("bad", PortAuto), mqttOnly("good", PortAuto)})
	if err == nil || !strings.Contains(err.Error(), `tenant "bad"`) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("Reconcile = %v, want bad's failure naming %s", err, bad)
	}
	if st, _ := h.Get("bad"); st.Running || !strings.Contains(st.Error, bad) {
		t.Errorf("bad's status: running %v, error %q", st.Running, st.Error)
	}
	if f := h.Failed(); len(f) != 1 || f["bad"] == nil {
		t.Errorf("Failed() = %v, want bad only", f)
	}
	if n := logs.FilterMessageSnippet("tenant not served").Len(); n != 1 {
		t.Errorf("%d failures logged, want 1", n)
	}
	good := dialStore(t, h, "good", "c", true)
	good.close()
	if err := h.Remove("bad"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bad); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("bad.db after Remove: %v, want it deleted", err)
	}
}

// Persistence "off" opens no store and deletes one left from before; a
// switch between default and sync applies to the running broker at once,
// one to or from off is logged as waiting for the next start.
func TestHostPersistenceModes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stale := filepath.Join(dir, "mem.db")
	if err := os.WriteFile(stale, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h, logs := testHost(t, HostConfig{StoreDir: dir})
	mem := mqttOnly("mem", PortAuto)
	mem.Limits.Persistence = PersistenceOff
	if _, err := h.Apply(mem); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("mem.db with persistence off: %v, want it deleted", err)
	}

	spec := mqttOnly("disk", PortAuto)
	if _, err := h.Apply(spec); err != nil {
		t.Fatal(err)
	}
	b, _ := h.Broker("disk")
	for _, mode := range []string{PersistenceSync, PersistenceDefault, PersistenceSync} {
		spec.Limits.Persistence = mode
		if _, err := h.Apply(spec); err != nil {
			t.Fatal(err)
		}
		if got := b.Config().StoreSync; got != (mode == PersistenceSync) {
			t.Errorf("persistence %s: broker StoreSync %v", mode, got)
		}
	}
	if n := logs.FilterMessageSnippet("next start").Len(); n != 0 {
		t.Errorf("%d next-start warnings for default/sync changes, want 0", n)
	}
	spec.Limits.Persistence = PersistenceOff
	if _, err := h.Apply(spec); err != nil {
		t.Fatal(err)
	}
	if n := logs.FilterMessageSnippet("applies at the tenant's next start").Len(); n != 1 {
		t.Errorf("%d next-start warnings for sync to off, want 1", n)
	}
	if b.Config().StoreSync {
		t.Error("persistence off: broker still waits for its store")
	}
}
