package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/bcrypt"

	"github.com/jmqx/jmqx/internal/packet"
	"github.com/jmqx/jmqx/tenant"
)

// startHost runs a tenant Host on 127.0.0.1 with opts; cfg.Broker.SysInterval
// defaults to off. t.Cleanup closes it.
func startHost(t *testing.T, cfg tenant.HostConfig, opts ...tenant.Option) *tenant.Host {
	t.Helper()
	cfg.BindHost, cfg.AdvertiseHost = "127.0.0.1", "127.0.0.1"
	if cfg.Broker.SysInterval == 0 {
		cfg.Broker.SysInterval = -1
	}
	opts = append([]tenant.Option{tenant.WithLogger(zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))}, opts...)
	h, err := tenant.NewHost(cfg, opts...)
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("Host.Close: %v", err)
		}
	})
	return h
}

// apply applies spec and fails the test on an error.
func apply(t *testing.T, h *tenant.Host, spec tenant.Spec) tenant.Status {
	t.Helper()
	st, err := h.Apply(spec)
	if err != nil {
		t.Fatalf("Apply %s: %v", spec.Name, err)
	}
	return st
}

// tenantNode returns the node of a tenant's listener for the dial helpers.
func tenantNode(t *testing.T, h *tenant.Host, name string, listener tenant.ListenerKind) *node {
	t.Helper()
	st, ok := h.Get(name)
	if !ok {
		t.Fatalf("tenant %s not running", name)
	}
	b, _ := h.Broker(name)
	addr := st.Listeners[listener]
	if addr == "" {
		t.Fatalf("tenant %s has no %s listener: %v", name, listener, st.Listeners)
	}
	return &node{b: b, addr: addr}
}

// hash returns a cheap bcrypt hash of password, for tests.
func hash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func user(t *testing.T, name string, passwords ...string) tenant.User {
	u := tenant.User{Name: name}
	for _, p := range passwords {
		u.PasswordHashes = append(u.PasswordHashes, hash(t, p))
	}
	return u
}

// basicSpec is a tenant with an MQTT listener on an auto port and
// anonymous clients allowed.
func basicSpec(name string) tenant.Spec {
	return tenant.Spec{Name: name, Listeners: tenant.Listeners{MQTT: tenant.PortAuto, WS: tenant.PortOff},
		Auth: tenant.Auth{AllowAnonymous: true}}
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

func TestTenantIsolation(t *testing.T) {
	h := startHost(t, tenant.HostConfig{Broker: tenant.BrokerSettings{SysInterval: 20 * time.Millisecond}})
	a, b := basicSpec("tenant-a"), basicSpec("tenant-b")
	a.Auth = tenant.Auth{Users: []tenant.User{user(t, "alice", "a-pass")}}
	b.Auth = tenant.Auth{Users: []tenant.User{user(t, "bob", "b-pass")}}
	apply(t, h, a)
	apply(t, h, b)
	na, nb := tenantNode(t, h, "tenant-a", "mqtt"), tenantNode(t, h, "tenant-b", "mqtt")
	if na.addr == nb.addr {
		t.Fatalf("both tenants on %s", na.addr)
	}

	// The same client id in both tenants at once: no takeover.
	ca := dialV5(t, na, "same-id", credentials("alice", "a-pass"))
	cb := dialV5(t, nb, "same-id", credentials("bob", "b-pass"))

	// Credentials of one tenant are refused by the other.
	if _, err := connectV5(t, nb, "intruder", credentials("alice", "a-pass")); err == nil {
		t.Fatal("tenant B accepted tenant A's credentials")
	} else if c, _ := connectV5(t, nb, "intruder2", credentials("alice", "a-pass")); c.connack == nil || c.connack.ReasonCode != byte(packet.BadUsernameOrPassword) {
		t.Fatalf("tenant B answered A's credentials with %+v, want 0x86", c.connack)
	}

	// A retained message of A is invisible in B.
	ca.publish("shared/retained", "from-a", 1, true)
	subA := dialV5(t, na, "sub-a", credentials("alice", "a-pass"))
	subA.subscribe("#", 1)
	if m := expectMessage(t, subA.msgs, waitFor); m.Payload != "from-a" || !m.Retain {
		t.Fatalf("A's subscriber got %+v, want A's retained message", m)
	}
	sysA := dialV5(t, na, "sys-a", credentials("alice", "a-pass"))
	sysA.subscribe("$SYS/broker/messages/received", 0)
	probeB := dialV5(t, nb, "probe-b", credentials("bob", "b-pass"))
	probeB.subscribe("#", 1)
	probeB.subscribe("shared/retained", 1)

	// 10,000 messages in B; A's "#" and "$SYS/#" subscribers see none.
	for i := range 10000 {
		qos := byte(0)
		if i%100 == 99 {
			qos = 1 // paces the loop
		}
		cb.publish("shared/"+strconv.Itoa(i%10), "b-"+strconv.Itoa(i), qos, false)
	}
	cb.publish("shared/end", "end", 1, false)
	got := 0
	for {
		m := expectMessage(t, probeB.msgs, waitFor)
		if m.Payload == "from-a" {
			t.Fatal("tenant B saw tenant A's retained message")
		}
		got++
		if m.Payload == "end" {
			break
		}
	}
	if got < 100 {
		t.Fatalf("B's own subscriber got %d messages", got)
	}
	// A's figures in A's $SYS: only A's own two messages (the retained
	// one and nothing of B's 10,001).
	eventually(t, waitFor, func() error {
		for {
			select {
			case m := <-sysA.msgs:
				n, _ := strconv.Atoi(m.Payload)
				if n > 10 {
					return fmt.Errorf("tenant A's $SYS counts %d messages received: B's leak in", n)
				}
				if n >= 1 {
					return nil
				}
			default:
				return errors.New("no $SYS figure yet")
			}
		}
	})
	select {
	case m := <-subA.msgs:
		t.Fatalf("A's # subscriber got %+v from tenant B", m)
	default:
	}
	bStats := mustStatus(t, h, "tenant-b").Stats
	aStats := mustStatus(t, h, "tenant-a").Stats
	if bStats.MessagesReceived < 10001 || aStats.MessagesReceived > 10 {
		t.Fatalf("messages received: A %d, B %d", aStats.MessagesReceived, bStats.MessagesReceived)
	}
	_ = ca
}

func mustStatus(t *testing.T, h *tenant.Host, name string) tenant.Status {
	t.Helper()
	st, ok := h.Get(name)
	if !ok {
		t.Fatalf("tenant %s not running", name)
	}
	return st
}

func TestTenantQuotasAndRefusalsCounted(t *testing.T) {
	h := startHost(t, tenant.HostConfig{})
	spec := basicSpec("quota")
	spec.Limits = tenant.Limits{MaxConnections: 2, MaxSubscriptionsPerClient: 1,
		ProtocolVersions: []int{5}, MaxRetainedMessages: 1}
	spec.ACL = tenant.ACL{Rules: []tenant.Rule{{Action: tenant.Deny, Access: tenant.AccessPublish, Topic: "forbidden/#"}}}
	spec.Auth.Users = []tenant.User{user(t, "u", "p")}
	apply(t, h, spec)
	n := tenantNode(t, h, "quota", "mqtt")

	c := dialV5(t, n, "c1")
	if rc := c.subscribe("a", 0); rc != 0 {
		t.Fatalf("first subscription: %#x", rc)
	}
	if rc := c.subscribe("b", 0); rc != byte(packet.QuotaExceeded) {
		t.Fatalf("second subscription: %#x, want 0x97", rc)
	}
	if rc := c.publish("forbidden/x", "x", 1, false); rc != byte(packet.NotAuthorized) {
		t.Fatalf("forbidden publish: %#x, want 0x87", rc)
	}
	if rc := c.publish("r/1", "x", 1, true); rc != byte(packet.NoMatchingSubscribers) && rc != 0 {
		t.Fatalf("first retained: %#x", rc)
	}
	if rc := c.publish("r/2", "x", 1, true); rc != byte(packet.QuotaExceeded) {
		t.Fatalf("second retained: %#x, want 0x97", rc)
	}
	if _, err := connectV5(t, n, "bad", credentials("u", "wrong")); err == nil {
		t.Fatal("wrong password accepted")
	}
	// 3.1.1 is not in protocol_versions: return code 1.
	r, ack := connectRaw(t, n, packet.V311, packet.Connect{ClientID: "old", CleanStart: true, KeepAlive: 30})
	if ack.ReasonCode != packet.ConnRefusedProtocolVersion {
		t.Fatalf("3.1.1 CONNACK %#x, want 0x01", ack.ReasonCode)
	}
	r.expectClosed()
	dialV5(t, n, "c2")
	third, err := connectV5(t, n, "c3")
	if err == nil || third.connack == nil || third.connack.ReasonCode != byte(packet.QuotaExceeded) {
		t.Fatalf("third connection: %v %+v, want CONNACK 0x97", err, third.connack)
	}
	st := mustStatus(t, h, "quota").Stats
	for rc, min := range map[packet.ReasonCode]int64{packet.QuotaExceeded: 3, packet.NotAuthorized: 1,
		packet.BadUsernameOrPassword: 1, packet.UnsupportedProtocolVersion: 1} {
		if st.Refusals[rc] < min {
			t.Errorf("refusals[%v] = %d, want >= %d (all: %v)", rc, st.Refusals[rc], min, st.Refusals)
		}
	}
}

func TestTenantPacketTooLargeAndTopicInvalid(t *testing.T) {
	h := startHost(t, tenant.HostConfig{})
	spec := basicSpec("sizes")
	spec.Limits = tenant.Limits{MaxPacketSize: 128}
	apply(t, h, spec)
	n := tenantNode(t, h, "sizes", "mqtt")
	r, ack := connectRaw(t, n, packet.V5, packet.Connect{ClientID: "big", CleanStart: true, KeepAlive: 30})
	if ack.Props.MaximumPacketSize != 128 {
		t.Fatalf("Maximum Packet Size %d, want 128", ack.Props.MaximumPacketSize)
	}
	r.send(&packet.Publish{Topic: "t", Payload: make([]byte, 200)})
	r.expectDisconnect(packet.PacketTooLarge)

	r2, _ := connectRaw(t, n, packet.V5, packet.Connect{ClientID: "wild", CleanStart: true, KeepAlive: 30})
	r2.send(&packet.Publish{Topic: "bad/+", Payload: []byte("x")}) // a wildcard in a topic name
	r2.expectDisconnect(packet.TopicNameInvalid)
	st := mustStatus(t, h, "sizes").Stats
	if st.Refusals[packet.PacketTooLarge] != 1 || st.Refusals[packet.TopicNameInvalid] != 1 {
		t.Fatalf("refusals %v, want one 0x95 and one 0x90", st.Refusals)
	}
}

func TestTenantPortChangeMovesClients(t *testing.T) {
	h := startHost(t, tenant.HostConfig{})
	spec := basicSpec("mover")
	apply(t, h, spec)
	old := tenantNode(t, h, "mover", "mqtt")
	v5 := dialV5(t, old, "v5")
	r3, ack := connectRaw(t, old, packet.V311, packet.Connect{ClientID: "v3", CleanStart: true, KeepAlive: 30})
	if ack.ReasonCode != 0 {
		t.Fatal(ack.ReasonCode)
	}

	newPort := freePort(t)
	spec.Listeners.MQTT = tenant.Port(strconv.Itoa(newPort))
	st := apply(t, h, spec)
	if got := portOf(t, st.Listeners["mqtt"]); got != newPort {
		t.Fatalf("mqtt on %d, want %d", got, newPort)
	}
	select {
	case d := <-v5.disconnects:
		if d.ReasonCode != byte(packet.UseAnotherServer) {
			t.Fatalf("DISCONNECT %#x, want 0x9C", d.ReasonCode)
		}
		if d.Properties == nil || d.Properties.ServerReference != st.Listeners["mqtt"] {
			t.Fatalf("Server Reference %+v, want %s", d.Properties, st.Listeners["mqtt"])
		}
	case <-time.After(waitFor):
		t.Fatal("no DISCONNECT on the old port")
	}
	r3.expectClosed()
	if _, err := net.DialTimeout("tcp", old.addr, time.Second); err == nil {
		t.Fatal("old port still accepts connections")
	}
	dialV5(t, tenantNode(t, h, "mover", "mqtt"), "v5-again")
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestTenantCredentialRotationAndUserRemoval(t *testing.T) {
	h := startHost(t, tenant.HostConfig{})
	spec := basicSpec("creds")
	spec.Auth = tenant.Auth{Users: []tenant.User{{Name: "dev", PasswordHashes: []string{hash(t, "old")}}, user(t, "other", "o")}}
	apply(t, h, spec)
	n := tenantNode(t, h, "creds", "mqtt")
	onOld := dialV5(t, n, "on-old", credentials("dev", "old"))

	// Rotation: both passwords work.
	spec.Auth.Users[0].PasswordHashes = append(spec.Auth.Users[0].PasswordHashes, hash(t, "new"))
	apply(t, h, spec)
	onNew := dialV5(t, n, "on-new", credentials("dev", "new"))
	dialV5(t, n, "on-old-2", credentials("dev", "old"))
	select {
	case d := <-onOld.disconnects:
		t.Fatalf("adding a credential disconnected a client: %#x", d.ReasonCode)
	default:
	}

	// The old one revoked: refused, and its live sessions disconnected.
	spec.Auth.Users[0].PasswordHashes = spec.Auth.Users[0].PasswordHashes[1:]
	apply(t, h, spec)
	expectServerDisconnect(t, onOld, packet.NotAuthorized)
	if c, err := connectV5(t, n, "again-old", credentials("dev", "old")); err == nil || c.connack.ReasonCode != byte(packet.BadUsernameOrPassword) {
		t.Fatalf("revoked password: %v %+v", err, c.connack)
	}
	other := dialV5(t, n, "other", credentials("other", "o"))
	select {
	case d := <-onNew.disconnects:
		t.Fatalf("the client on the new password was disconnected: %#x", d.ReasonCode)
	default:
	}

	// The user removed: its live sessions end, other users stay.
	spec.Auth.Users = spec.Auth.Users[1:]
	apply(t, h, spec)
	expectServerDisconnect(t, onNew, packet.NotAuthorized)
	if c, err := connectV5(t, n, "gone", credentials("dev", "new")); err == nil || c.connack.ReasonCode != byte(packet.BadUsernameOrPassword) {
		t.Fatalf("removed user: %v %+v", err, c.connack)
	}
	other.publish("still/here", "x", 1, false)
}

func expectServerDisconnect(t *testing.T, c *v5Client, rc packet.ReasonCode) {
	t.Helper()
	select {
	case d := <-c.disconnects:
		if d.ReasonCode != byte(rc) {
			t.Fatalf("DISCONNECT %#x, want %#x", d.ReasonCode, byte(rc))
		}
	case <-time.After(waitFor):
		t.Fatalf("no DISCONNECT %v", rc)
	}
}

func TestTenantACLChangeAppliesToSubscriptions(t *testing.T) {
	h := startHost(t, tenant.HostConfig{})
	spec := basicSpec("acl")
	apply(t, h, spec)
	n := tenantNode(t, h, "acl", "mqtt")
	sub := dialV5(t, n, "sub")
	sub.subscribe("secret/#", 1)
	pub := dialV5(t, n, "pub")
	pub.publish("secret/a", "1", 1, false)
	expectMessage(t, sub.msgs, waitFor)

	spec.ACL = tenant.ACL{Rules: []tenant.Rule{{Action: tenant.Deny, Access: tenant.AccessSubscribe, Topic: "secret/#"}}}
	apply(t, h, spec)
	if rc := pub.publish("secret/b", "2", 1, false); rc != byte(packet.NoMatchingSubscribers) {
		t.Fatalf("publish after the ACL change: %#x, want 0x10 (the subscription is gone)", rc)
	}
	if rc := sub.subscribe("secret/#", 1); rc != byte(packet.NotAuthorized) {
		t.Fatalf("resubscribe: %#x, want 0x87", rc)
	}
	// A lowered quota applies at once.
	spec.Limits.MaxSubscriptionsPerClient = 1
	apply(t, h, spec)
	sub.subscribe("x", 0)
	if rc := sub.subscribe("y", 0); rc != byte(packet.QuotaExceeded) {
		t.Fatalf("subscription above the lowered quota: %#x", rc)
	}
}

func TestTenantRemovalReleasesPorts(t *testing.T) {
	h := startHost(t, tenant.HostConfig{})
	spec := basicSpec("gone")
	spec.Listeners.WS = tenant.PortAuto
	st := apply(t, h, spec)
	c := dialV5(t, tenantNode(t, h, "gone", "mqtt"), "c")
	if err := h.Remove("gone"); err != nil {
		t.Fatal(err)
	}
	expectServerDisconnect(t, c, packet.ServerShuttingDown)
	for _, addr := range st.Listeners {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(portOf(t, addr))))
		if err != nil {
			t.Fatalf("port of %s not released: %v", addr, err)
		}
		l.Close()
	}
	if _, ok := h.Get("gone"); ok {
		t.Fatal("removed tenant still listed")
	}
	if err := h.Remove("gone"); !errors.Is(err, tenant.ErrNotFound) {
		t.Fatalf("second Remove: %v", err)
	}
}

func TestTenantReconcile(t *testing.T) {
	h := startHost(t, tenant.HostConfig{})
	apply(t, h, basicSpec("r-old"))
	keep := apply(t, h, basicSpec("r-keep"))
	if err := h.Reconcile([]tenant.Spec{basicSpec("r-keep"), basicSpec("r-new")}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, st := range h.List() {
		names = append(names, st.Spec.Name)
	}
	if fmt.Sprint(names) != "[r-keep r-new]" {
		t.Fatalf("tenants %v", names)
	}
	if got := mustStatus(t, h, "r-keep").Listeners["mqtt"]; got != keep.Listeners["mqtt"] {
		t.Fatalf("an unchanged tenant moved: %s -> %s", keep.Listeners["mqtt"], got)
	}
	bad := basicSpec("Bad_Name")
	if err := h.Reconcile([]tenant.Spec{bad}); err == nil {
		t.Fatal("an invalid spec was reconciled")
	}
}

// tenantDial opens a client connection to a tenant listener of kind at
// addr, trusting pool for the secure ones.
func tenantDial(t *testing.T, kind, addr, path string, pool *x509.CertPool) net.Conn {
	t.Helper()
	tc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	var conn net.Conn
	var err error
	switch kind {
	case "mqtt":
		conn, err = net.Dial("tcp", addr)
	case "mqtts":
		conn, err = tls.Dial("tcp", addr, tc)
	case "ws":
		conn, err = dialWS("ws://"+addr+path, nil)
	case "wss":
		conn, err = dialWS("wss://"+addr+path, tc)
	}
	if err != nil {
		t.Fatalf("dial %s %s: %v", kind, addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// tenantClient connects a raw v5 client over a tenant listener.
func tenantClient(t *testing.T, kind, addr, path string, pool *x509.CertPool, id string) *rawClient {
	t.Helper()
	r := &rawClient{t: t, conn: tenantDial(t, kind, addr, path, pool), version: packet.V5}
	r.send(&packet.Connect{Version: packet.V5, ClientID: id, CleanStart: true, KeepAlive: 30})
	if ack := expectPacket[*packet.Connack](r); ack.ReasonCode != packet.Success {
		t.Fatalf("%s: CONNACK %v", kind, ack.ReasonCode)
	}
	return r
}

// A tenant serves MQTT, MQTTS, WebSocket and secure WebSocket at once (the
// secure ones with the Host's certificate, or the tenant's own), and a
// moved WebSocket listener tells its clients where to go.
func TestTenantAllTransports(t *testing.T) {
	hostBundle, hostDir := tlsFiles(t)
	h := startHost(t, tenant.HostConfig{TLS: &tenant.TLS{
		CertFile: filepath.Join(hostDir, "server.pem"), KeyFile: filepath.Join(hostDir, "server-key.pem")}})
	spec := tenant.Spec{Name: "all", Auth: tenant.Auth{AllowAnonymous: true}, Listeners: tenant.Listeners{WSPath: "/devices"}}
	st := apply(t, h, spec)
	for _, k := range allTransports {
		if st.Listeners[tenant.ListenerKind(k)] == "" {
			t.Fatalf("no %s listener by default with host TLS: %v", k, st.Listeners)
		}
	}
	subs := map[string]*rawClient{}
	for _, k := range allTransports {
		s := tenantClient(t, k, st.Listeners[tenant.ListenerKind(k)], "/devices", hostBundle.CAPool(), "sub-"+k)
		s.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "x/#"}}})
		expectPacket[*packet.Suback](s)
		subs[k] = s
	}
	for _, k := range allTransports {
		p := tenantClient(t, k, st.Listeners[tenant.ListenerKind(k)], "/devices", hostBundle.CAPool(), "pub-"+k)
		p.send(&packet.Publish{Topic: "x/" + k, Payload: []byte(k)})
	}
	for _, k := range allTransports {
		got := map[string]bool{}
		for range allTransports {
			got[string(expectPacket[*packet.Publish](subs[k]).Payload)] = true
		}
		if len(got) != len(allTransports) {
			t.Errorf("subscriber on %s got %v", k, got)
		}
	}

	// The tenant's own certificate replaces the Host's on MQTTS and WSS,
	// rebound on the same ports.
	ownBundle, ownDir := tlsFiles(t)
	spec.Listeners.TLS = &tenant.TLS{CertFile: filepath.Join(ownDir, "server.pem"), KeyFile: filepath.Join(ownDir, "server-key.pem")}
	st2 := apply(t, h, spec)
	if st2.Listeners["mqtts"] != st.Listeners["mqtts"] {
		t.Fatalf("a certificate change moved MQTTS: %s -> %s", st.Listeners["mqtts"], st2.Listeners["mqtts"])
	}
	tenantClient(t, "mqtts", st2.Listeners["mqtts"], "", ownBundle.CAPool(), "own-ca")
	if c, err := tls.Dial("tcp", st2.Listeners["mqtts"], &tls.Config{RootCAs: hostBundle.CAPool(), ServerName: "127.0.0.1"}); err == nil {
		c.Close()
		t.Fatal("MQTTS still presents the Host's certificate")
	}

	// A new WebSocket port: its clients get DISCONNECT 0x9C with the new
	// address before the old listener closes.
	wsClient := tenantClient(t, "ws", st2.Listeners["ws"], "/devices", nil, "ws-mover")
	spec.Listeners.WS = tenant.Port(strconv.Itoa(freePort(t)))
	st3 := apply(t, h, spec)
	d := expectPacket[*packet.Disconnect](wsClient)
	if d.ReasonCode != packet.UseAnotherServer || d.Props.ServerReference != st3.Listeners["ws"] {
		t.Fatalf("DISCONNECT %v ref %q, want 0x9C to %s", d.ReasonCode, d.Props.ServerReference, st3.Listeners["ws"])
	}
	tenantClient(t, "ws", st3.Listeners["ws"], "/devices", nil, "ws-moved")
}
