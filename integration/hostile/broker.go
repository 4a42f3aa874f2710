package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// brokerProc is a running "jmqx serve" on loopback ports.
type brokerProc struct {
	bin       string
	adminAddr string
	mqttAddr  string // the default tenant's MQTT listener
	cmd       *exec.Cmd
	log       *tailBuffer
	exited    chan struct{} // closed when the process has been waited for
	stopping  chan struct{} // closed when stop begins
	stopOnce  sync.Once
}

// buildJMQX builds ./cmd/jmqx of the module in the working directory into
// dir and returns the binary's path.
func buildJMQX(ctx context.Context, dir string) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		return "", errors.New("not inside the jmqx module: run from its root, or give --jmqx")
	}
	bin := filepath.Join(dir, "jmqx")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/jmqx")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/jmqx: %w\n%s", err, out)
	}
	return bin, nil
}

// freePort returns a loopback address whose port was free a moment ago.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// startBroker starts "jmqx serve" with its data in dir and waits until its
// admin API is ready and its MQTT port accepts connections.
func startBroker(ctx context.Context, bin, dir string, cfg config) (*brokerProc, error) {
	var addrs [3]string
	for i := range addrs {
		a, err := freePort()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	b := &brokerProc{bin: bin, adminAddr: addrs[0], mqttAddr: addrs[2], log: &tailBuffer{max: 64 << 10},
		exited: make(chan struct{}), stopping: make(chan struct{})}
	args := []string{"serve", "--data-dir", filepath.Join(dir, "data"), "--admin-addr", addrs[0],
		"--raft-addr", addrs[1], "--mqtt-addr", addrs[2], "--ws-addr=", "--log-level", cfg.brokerLogLevel}
	if cfg.memoryBudget != "" {
		help, _ := exec.CommandContext(ctx, bin, "serve", "--help").CombinedOutput()
		if !bytes.Contains(help, []byte("--memory-budget")) {
			return nil, errors.New("--memory-budget given, but this jmqx serve has no --memory-budget flag")
		}
		args = append(args, "--memory-budget", cfg.memoryBudget)
	}
	b.cmd = exec.Command(bin, args...)
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	// Its own process group keeps a terminal's Ctrl-C away from it (this
	// program stops it, after the last RSS reading); Pdeathsig kills it if
	// this program dies without cleaning up.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start jmqx serve: %w", err)
	}
	go func() {
		_ = b.cmd.Wait()
		close(b.exited)
	}()
	if err := b.waitReady(ctx, cfg.startTimeout); err != nil {
		b.stop()
		return nil, fmt.Errorf("%w\n--- jmqx serve log (tail) ---\n%s", err, b.log.String())
	}
	return b, nil
}

// waitReady polls /readyz and the MQTT port until both answer.
func (b *brokerProc) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	url := "http://" + b.adminAddr + "/readyz"
	for {
		if ready(ctx, client, url) {
			if c, err := net.DialTimeout("tcp", b.mqttAddr, time.Second); err == nil {
				_ = c.Close()
				return nil
			}
		}
		select {
		case <-b.exited:
			return fmt.Errorf("jmqx serve exited during start-up: %v", b.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("jmqx serve not ready after %s: %w", timeout, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func ready(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// pid returns the broker's process id.
func (b *brokerProc) pid() int { return b.cmd.Process.Pid }

// exitedEarly reports whether the broker exited before stop was called.
func (b *brokerProc) exitedEarly() bool {
	select {
	case <-b.stopping:
		return false
	default:
	}
	select {
	case <-b.exited:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL after 10 s, and waits for the exit.
func (b *brokerProc) stop() {
	b.stopOnce.Do(func() {
		close(b.stopping)
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.exited:
		case <-time.After(10 * time.Second):
			logf("broker still running 10 s after SIGTERM: SIGKILL")
			_ = b.cmd.Process.Kill()
			<-b.exited
		}
	})
}

// cli runs a jmqx client command against the broker's admin API.
func (b *brokerProc) cli(ctx context.Context, stdin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, b.bin, append(args, "--server", b.adminAddr)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("jmqx %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// tenantView is the part of "jmqx tenant show --json" read here.
type tenantView struct {
	Nodes []struct {
		Listeners map[string]string `json:"listeners"`
	} `json:"nodes"`
}

// createTenant creates a tenant with an MQTT listener on an automatic port
// (retrying while the control plane is not ready) and returns that port's
// address.
func (b *brokerProc) createTenant(ctx context.Context, name string, anonymous bool) (string, error) {
	create := []string{"tenant", "create", name, "--mqtt-port", "auto", "--ws-port", "off",
		fmt.Sprintf("--allow-anonymous=%t", anonymous), "--json"}
	for {
		out, err := b.cli(ctx, "", create...)
		if err != nil && strings.Contains(err.Error(), "exists") {
			out, err = b.cli(ctx, "", "tenant", "show", name, "--json")
		}
		if err == nil {
			var v tenantView
			if err := json.Unmarshal(out, &v); err != nil {
				return "", fmt.Errorf("tenant %s: %w", name, err)
			}
			for _, n := range v.Nodes {
				if a := n.Listeners["mqtt"]; a != "" {
					return a, nil
				}
			}
			err = fmt.Errorf("tenant %s: no MQTT listener bound yet", name)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("create tenant %s: %w (last: %v)", name, ctx.Err(), err)
		case <-b.exited:
			return "", fmt.Errorf("create tenant %s: broker exited", name)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// addUser adds a user with a password to a tenant.
func (b *brokerProc) addUser(ctx context.Context, tenant, user, password string) error {
	_, err := b.cli(ctx, password+"\n", "user", "add", tenant, user, "--password-stdin")
	return err
}

// tailBuffer keeps the last max bytes written to it (roughly: it drops the
// older half when full), so a chatty broker log cannot fill the memory.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) > t.max {
		p = p[len(p)-t.max:]
	}
	if len(t.buf)+len(p) > t.max {
		keep := t.buf[len(t.buf)-min(len(t.buf), t.max/2):]
		t.buf = append(t.buf[:0], keep...)
		if len(t.buf)+len(p) > t.max {
			t.buf = t.buf[:0]
		}
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
