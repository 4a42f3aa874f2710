package integration

// Three `jmqx serve` nodes as on three machines: each on its own loopback
// address (127.0.0.1, .2, .3), all with the same admin, Raft and MQTT
// ports. A member must advertise the admin address the others reach it
// at, or a follower forwards writes to itself and probes itself.

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostIPs are the "machines" of these tests: Linux routes all of
// 127.0.0.0/8 to the loopback interface without setup.
var hostIPs = []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}

// freePortsOnAll returns n distinct ports that are free on every one of
// ips (checked by binding each, on all of them at once).
func freePortsOnAll(t *testing.T, ips []string, n int) []int {
	t.Helper()
	var ports []int
	for attempt := 0; len(ports) < n && attempt < 200; attempt++ {
		first, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := first.Addr().(*net.TCPAddr).Port
		held := []net.Listener{first}
		ok := true
		for _, ip := range ips[1:] {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(port)))
			if err != nil {
				ok = false
				break
			}
			held = append(held, l)
		}
		for _, l := range held {
			_ = l.Close()
		}
		for _, p := range ports {
			ok = ok && p != port
		}
		if ok {
			ports = append(ports, port)
		}
	}
	if len(ports) < n {
		t.Fatalf("found only %d ports free on all of %v", len(ports), ips)
	}
	return ports
}

// hostNode is a cliNode bound to one "machine" (ip) with the ports every
// machine uses, which a busy port must not move (--fixed-ports).
type hostNode struct{ *cliNode }

func newHostNode(t *testing.T, id, ip string, ports []int, join string) *hostNode {
	t.Helper()
	dir := t.TempDir()
	at := func(p int) string { return net.JoinHostPort(ip, fmt.Sprint(p)) }
	return &hostNode{&cliNode{t: t, id: id, dataDir: filepath.Join(dir, "data"), admin: at(ports[0]), raft: at(ports[1]),
		join: join, logPath: filepath.Join(dir, "node.log"), ip: ip, mqtt: at(ports[2]), extra: []string{"--fixed-ports"}}}
}

// waitMembers polls `cluster members --json` through server until ok
// accepts them, failing after d.
func waitMembers(t *testing.T, server string, d time.Duration, ok func([]cliMember) error) []cliMember {
	t.Helper()
	var ms []cliMember
	eventually(t, d, func() error {
		var err error
		if ms, err = clusterMembers(t, server); err != nil {
			return fmt.Errorf("cluster members via %s: %w", server, err)
		}
		if err := ok(ms); err != nil {
			return fmt.Errorf("cluster members via %s: %w (%+v)", server, err, ms)
		}
		return nil
	})
	return ms
}

// createWithin creates tenant name through server, retrying until d.
func createWithin(t *testing.T, server, name string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	eventually(t, d, func() error {
		_, err := jmqxCLI(t, server, "", "tenant", "create", name, "--allow-anonymous", "--mqtt-port", "auto", "--ws-port", "off", "--json")
		return err
	})
	return time.Since(start)
}

// freeWildcardPort returns a port that was free on every interface.
func freeWildcardPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Three nodes as on three machines, with the same ports: writes through
// each follower reach the leader, every member is listed healthy at its
// own address, and writes resume through a survivor once the leader is
// killed. The killed node then comes back, and a node restarts with its
// admin API bound to every interface on a new port: it advertises
// --advertise-host with that port, answers to it, and updates its member
// record through the leader.
func TestCLIThreeHostsSamePorts(t *testing.T) {
	// The nodes and the CLI share one token: the restarted node binds
	// its admin API beyond loopback.
	t.Setenv("JMQX_TOKEN", "three-hosts-e2e-token-0123456789")
	ports := freePortsOnAll(t, hostIPs, 3) // admin, Raft, MQTT
	join := net.JoinHostPort(hostIPs[0], fmt.Sprint(ports[0]))
	nodes := map[string]*hostNode{}
	var order []*hostNode
	for i, ip := range hostIPs {
		id := fmt.Sprint("h", i+1)
		j := join
		if i == 0 {
			j = ""
		}
		n := newHostNode(t, id, ip, ports, j)
		nodes[id] = n
		order = append(order, n)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range order {
				t.Logf("%s log:\n%s", n.id, strings.TrimSpace(n.log()))
			}
		}
	})
	for _, n := range order {
		n.start(true)
	}

	// Every member is listed with its own address, and healthy, from
	// every node.
	allHealthy := func(want []*hostNode) func([]cliMember) error {
		return func(ms []cliMember) error {
			byID := map[string]cliMember{}
			leaders := 0
			for _, m := range ms {
				byID[m.ID] = m
				if m.Role == "leader" {
					leaders++
				}
			}
			if leaders != 1 {
				return fmt.Errorf("%d leaders", leaders)
			}
			var errs []error
			for _, n := range want {
				m, ok := byID[n.id]
				switch {
				case !ok:
					errs = append(errs, fmt.Errorf("%s not listed", n.id))
				case m.AdminAddr != n.admin:
					errs = append(errs, fmt.Errorf("%s: admin_addr %s, want %s", n.id, m.AdminAddr, n.admin))
				case m.RaftAddr != n.raft:
					errs = append(errs, fmt.Errorf("%s: raft_addr %s, want %s", n.id, m.RaftAddr, n.raft))
				case !m.Healthy:
					errs = append(errs, fmt.Errorf("%s: not healthy", n.id))
				}
			}
			return errors.Join(errs...)
		}
	}
	for _, n := range order {
		waitMembers(t, n.admin, 15*time.Second, allHealthy(order))
	}

	// Writes through each follower reach the leader.
	ms := waitMembers(t, join, 5*time.Second, allHealthy(order))
	var leader *hostNode
	for _, m := range ms {
		if m.Role == "leader" {
			leader = nodes[m.ID]
		}
	}
	var survivors []*hostNode
	for _, n := range order {
		if n == leader {
			continue
		}
		survivors = append(survivors, n)
		mustCLI(t, n.admin, "", "tenant", "create", "via-"+n.id, "--allow-anonymous", "--mqtt-port", "auto", "--ws-port", "off", "--json")
	}
	// Each node serves it on its own address.
	for _, n := range survivors {
		for id, a := range waitTenantMQTT(t, n.admin, "via-"+n.id, 3, 10*time.Second) {
			if host, _, _ := net.SplitHostPort(a); host != nodes[id].ip {
				t.Errorf("tenant via-%s on %s: mqtt at %s, want host %s", n.id, id, a, nodes[id].ip)
			}
		}
	}

	// Kill the leader: writes resume through a survivor, and the
	// survivors see each other healthy.
	_ = leader.stop(syscall.SIGKILL)
	took := createWithin(t, survivors[0].admin, "after-failover", 15*time.Second)
	t.Logf("leader %s (%s) SIGKILLed: write acknowledged via %s after %v", leader.id, leader.ip, survivors[0].id, took)
	createWithin(t, survivors[1].admin, "after-failover-2", 5*time.Second)
	for _, s := range survivors {
		ms := waitMembers(t, s.admin, 10*time.Second, allHealthy(survivors))
		for _, m := range ms {
			if m.ID == leader.id && m.Healthy {
				t.Errorf("killed %s reported healthy via %s", leader.id, s.id)
			}
		}
	}

	// The killed node comes back as it was.
	leader.start(false)
	for _, n := range order {
		waitMembers(t, n.admin, 15*time.Second, allHealthy(order))
	}

	// A node on another address than 127.0.0.1 (so not one of the
	// interface addresses a wildcard bind accepts in the Host header)
	// restarts with its admin API on 0.0.0.0 and another port, as after a
	// reconfiguration of its machine: it advertises --advertise-host with
	// the new port, answers to that host, and updates its member record.
	moved := survivors[1]
	if moved.ip == hostIPs[0] {
		moved = survivors[0]
	}
	if err := moved.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("%s: exit after SIGTERM: %v\n%s", moved.id, err, moved.log())
	}
	wildPort := freeWildcardPort(t)
	moved.extra = append(moved.extra, "--admin-addr", fmt.Sprint("0.0.0.0:", wildPort))
	moved.admin = net.JoinHostPort(moved.ip, fmt.Sprint(wildPort))
	moved.start(false)
	for _, n := range order {
		waitMembers(t, n.admin, 15*time.Second, allHealthy(order))
	}
	mustCLI(t, moved.admin, "", "tenant", "create", "via-moved", "--allow-anonymous", "--mqtt-port", "auto", "--ws-port", "off", "--json")
	waitTenantMQTT(t, leader.admin, "via-moved", 3, 10*time.Second)

}
