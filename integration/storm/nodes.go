package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// nodeProc is one running "jmqx serve" on its "machine" ip, with the ports
// every machine uses.
type nodeProc struct {
	id, ip, bin, dir string
	ports            []int // admin, Raft, MQTT, gossip, link
	cmd              *exec.Cmd
	log              *tailBuffer
	exited           chan struct{} // closed once the process has been waited for
	stopping         atomic.Bool
	stopOnce         sync.Once
}

// addr returns the node's address with its k-th port.
func (x *nodeProc) addr(k int) string { return net.JoinHostPort(x.ip, fmt.Sprint(x.ports[k])) }

// start starts the node, joining the cluster through join's admin API when
// join is not empty.
func (x *nodeProc) start(join, logLevel string) error {
	args := []string{"serve", "--node-id", x.id, "--data-dir", filepath.Join(x.dir, "data"),
		"--admin-addr", x.addr(0), "--raft-addr", x.addr(1), "--mqtt-addr", x.addr(2), "--ws-addr=",
		"--gossip-addr", x.addr(3), "--cluster-addr", x.addr(4),
		"--bind-host", x.ip, "--advertise-host", x.ip, "--fixed-ports", "--log-level", logLevel}
	if join != "" {
		args = append(args, "--join", join)
	}
	x.cmd = exec.Command(x.bin, args...)
	x.cmd.Stdout, x.cmd.Stderr = x.log, x.log
	// Its own process group keeps a terminal's Ctrl-C away from it (this
	// program stops it); Pdeathsig kills it if this program dies first.
	x.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := x.cmd.Start(); err != nil {
		return fmt.Errorf("start jmqx serve %s: %w", x.id, err)
	}
	go func() {
		_ = x.cmd.Wait()
		close(x.exited)
	}()
	logf("node %s pid %d on %s", x.id, x.cmd.Process.Pid, x.ip)
	return nil
}

// waitReady polls the admin API's /readyz until it answers 200.
func (x *nodeProc) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	url := "http://" + x.addr(0) + "/readyz"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := x.pause(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("node %s not ready: %w", x.id, err)
		}
	}
}

// pause waits d, failing early when ctx ends or the node exits.
func (x *nodeProc) pause(ctx context.Context, d time.Duration) error {
	select {
	case <-x.exited:
		return fmt.Errorf("node %s exited: %v", x.id, x.cmd.ProcessState)
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// exitedEarly reports whether the node exited before stop was called.
func (x *nodeProc) exitedEarly() bool {
	select {
	case <-x.exited:
		return !x.stopping.Load()
	default:
		return false
	}
}

// stop sends SIGTERM to the node, then SIGKILL after 10 s, and waits.
func (x *nodeProc) stop() {
	x.stopOnce.Do(func() {
		if x.cmd == nil || x.cmd.Process == nil {
			return
		}
		x.stopping.Store(true)
		_ = x.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-x.exited:
		case <-time.After(10 * time.Second):
			logf("node %s still running 10 s after SIGTERM: SIGKILL", x.id)
			_ = x.cmd.Process.Kill()
			<-x.exited
		}
	})
}

// cli runs a jmqx client command against the node's admin API.
func (x *nodeProc) cli(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, x.bin, append(args, "--server", x.addr(0))...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("jmqx %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// memberView is the part of "jmqx cluster members --json" read here.
type memberView struct {
	ID      string `json:"id"`
	Healthy bool   `json:"healthy"`
	Link    string `json:"link"`
}

// waitMesh waits until every node lists every node healthy, with an up
// link to each other one.
func waitMesh(ctx context.Context, nodes []*nodeProc) error {
	for _, x := range nodes {
		for {
			err := meshed(ctx, x, len(nodes))
			if err == nil {
				break
			}
			if perr := x.pause(ctx, 200*time.Millisecond); perr != nil {
				return fmt.Errorf("cluster not meshed: %v (last: %v)", perr, err)
			}
		}
	}
	logf("cluster: every node has an up link to every other")
	return nil
}

func meshed(ctx context.Context, x *nodeProc, n int) error {
	out, err := x.cli(ctx, "cluster", "members", "--json")
	if err != nil {
		return err
	}
	var ms []memberView
	if err := json.Unmarshal(out, &ms); err != nil {
		return fmt.Errorf("cluster members via %s: %w", x.id, err)
	}
	if len(ms) != n {
		return fmt.Errorf("%s lists %d members", x.id, len(ms))
	}
	for _, m := range ms {
		if !m.Healthy || m.ID != x.id && m.Link != "up" {
			return fmt.Errorf("%s sees %+v", x.id, m)
		}
	}
	return nil
}

// tenantView is the part of "jmqx tenant show --json" read here.
type tenantView struct {
	Nodes []struct {
		Node      string            `json:"node"`
		Listeners map[string]string `json:"listeners"`
	} `json:"nodes"`
}

// createTenant creates the tenant "storm" through the first node (retrying
// while the control plane is not ready) and returns, once every node
// serves it, each node's MQTT address.
func createTenant(ctx context.Context, nodes []*nodeProc) (map[string]string, error) {
	x := nodes[0]
	create := []string{"tenant", "create", "storm", "--mqtt-port", "auto", "--ws-port", "off", "--allow-anonymous",
		"--max-connections=-1", "--max-connects-per-second=-1", "--json"}
	var last error
	for {
		_, err := x.cli(ctx, create...)
		if err == nil || strings.Contains(err.Error(), "exists") {
			var out []byte
			if out, err = x.cli(ctx, "tenant", "show", "storm", "--json"); err == nil {
				var v tenantView
				if err := json.Unmarshal(out, &v); err != nil {
					return nil, fmt.Errorf("tenant storm: %w", err)
				}
				addrs := map[string]string{}
				for _, n := range v.Nodes {
					if a := n.Listeners["mqtt"]; a != "" {
						addrs[n.Node] = a
					}
				}
				if len(addrs) == len(nodes) {
					return addrs, nil
				}
				err = fmt.Errorf("tenant storm: %d of %d nodes serve it", len(addrs), len(nodes))
			}
		}
		last = err
		if err := x.pause(ctx, 200*time.Millisecond); err != nil {
			return nil, fmt.Errorf("create tenant storm: %v (last: %v)", err, last)
		}
	}
}

// buildJMQX builds ./cmd/jmqx of the module in the working directory into
// dir and returns the binary's path.
func buildJMQX(ctx context.Context, dir string) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(gomod))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the jmqx module: run from its root, or give -jmqx")
	}
	bin := filepath.Join(dir, "jmqx")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/jmqx")
	cmd.Dir = filepath.Dir(mod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/jmqx: %w\n%s", err, out)
	}
	return bin, nil
}

// freePortsOnAll returns n distinct ports free, for TCP and UDP, on every
// one of ips (checked by binding each on all of them at once).
func freePortsOnAll(ips []string, n int) ([]int, error) {
	var ports []int
	for attempt := 0; len(ports) < n && attempt < 200; attempt++ {
		first, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			return nil, err
		}
		port := first.Addr().(*net.TCPAddr).Port
		var held []io.Closer
		held = append(held, first)
		ok := true
		for k, ip := range ips {
			addr := net.JoinHostPort(ip, fmt.Sprint(port))
			if k > 0 {
				l, err := net.Listen("tcp", addr)
				if err != nil {
					ok = false
					break
				}
				held = append(held, l)
			}
			u, err := net.ListenPacket("udp", addr)
			if err != nil {
				ok = false
				break
			}
			held = append(held, u)
		}
		for _, c := range held {
			_ = c.Close()
		}
		for _, p := range ports {
			ok = ok && p != port
		}
		if ok {
			ports = append(ports, port)
		}
	}
	if len(ports) < n {
		return nil, fmt.Errorf("found only %d ports free on all of %v", len(ports), ips)
	}
	return ports, nil
}

// tailBuffer keeps about the last max bytes written to it, so a chatty
// broker log cannot fill the memory.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max/2:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// logf prints a progress line on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s storm: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}
