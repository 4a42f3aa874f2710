package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// runCertApp runs "jmqx cert ARGS..." in process and returns its output.
func runCertApp(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	app := newApp(appEnv{stdout: &out, stderr: io.Discard})
	err := app.RunContext(context.Background(), append([]string{"jmqx", "cert"}, args...))
	return out.String(), err
}

// loadCA reads the CA certificates in path into a new pool.
func loadCA(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", path)
	}
	return pool
}

// loadPair loads dir/NAME.pem and dir/NAME-key.pem.
func loadPair(t *testing.T, dir, name string) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCertWritesFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "my certs")
	out, err := runCertApp(t, "--out", dir, "--host", "localhost", "--host", "127.0.0.1", "--client-cn", "dev", "--days", "30")
	if err != nil {
		t.Fatalf("cert: %v\n%s", err, out)
	}
	quoted := "'" + dir + "/"
	for _, want := range []string{
		"wrote " + filepath.Join(dir, "ca.pem"), "wrote " + filepath.Join(dir, "client-key.pem"),
		"valid for localhost, 127.0.0.1 until",
		"jmqx serve --tls-cert " + quoted + "server.pem' --tls-key " + quoted + "server-key.pem' --tls-ca " + quoted + "ca.pem' --tls-client-auth require",
		"mosquitto_sub --cafile " + quoted + "ca.pem' -h localhost -p 8883 -t '#'",
		"mosquitto_sub --cafile " + quoted + "ca.pem' --cert " + quoted + "client.pem' --key " + quoted + "client-key.pem' -h localhost -p 8883",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for name, mode := range map[string]os.FileMode{"ca-key.pem": 0o600, "server-key.pem": 0o600, "client-key.pem": 0o600, "server.pem": 0o644} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v, %v; want mode %v", name, fi, err, mode)
		}
	}

	roots := loadCA(t, filepath.Join(dir, "ca.pem"))
	server, client := loadPair(t, dir, "server"), loadPair(t, dir, "client")
	for _, host := range []string{"localhost", "127.0.0.1"} {
		if _, err := server.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots}); err != nil {
			t.Errorf("server.pem for %s: %v", host, err)
		}
	}
	_, err = client.Leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil || client.Leaf.Subject.CommonName != "dev" {
		t.Errorf("client.pem: CN %q, verify %v; want CN dev, verified", client.Leaf.Subject.CommonName, err)
	}
	if got := client.Leaf.NotAfter.Sub(client.Leaf.NotBefore); got != 30*24*time.Hour {
		t.Errorf("client.pem valid for %s, want 30 days", got)
	}
}

// TestCertFilesDoMutualTLS loads the written files as serve and a client
// would, and shakes hands over loopback.
func TestCertFilesDoMutualTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if out, err := runCertApp(t, "--out", dir); err != nil {
		t.Fatalf("cert: %v\n%s", err, out)
	}
	roots := loadCA(t, filepath.Join(dir, "ca.pem"))
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{loadPair(t, dir, "server")},
		ClientCAs:    roots,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	peer := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			peer <- err.Error()
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(waitTimeout))
		if err := c.(*tls.Conn).Handshake(); err != nil {
			peer <- err.Error()
			return
		}
		peer <- c.(*tls.Conn).ConnectionState().PeerCertificates[0].Subject.CommonName
		_, _ = c.Write([]byte{0})
	}()
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: waitTimeout}, Config: &tls.Config{
		RootCAs:      roots,
		ServerName:   "localhost",
		Certificates: []tls.Certificate{loadPair(t, dir, "client")},
	}}
	c, err := dialer.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Errorf("read: %v", err)
	}
	if got := <-peer; got != "jmqx-client" {
		t.Errorf("server saw %q, want client jmqx-client", got)
	}
}

func TestCertRefusesOverwrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if out, err := runCertApp(t, "--out", dir); err != nil {
		t.Fatalf("cert: %v\n%s", err, out)
	}
	ca := filepath.Join(dir, "ca.pem")
	before, _ := os.ReadFile(ca)

	out, err := runCertApp(t, "--out", dir)
	if err == nil || !strings.Contains(err.Error(), ca) || !strings.Contains(err.Error(), "--force") || !errors.Is(err, os.ErrExist) {
		t.Errorf("cert over existing files = %v, want an error naming %s and --force", err, ca)
	}
	if out != "" {
		t.Errorf("refused cert printed %q", out)
	}
	if after, _ := os.ReadFile(ca); !bytes.Equal(after, before) {
		t.Error("refused cert changed ca.pem")
	}

	if out, err := runCertApp(t, "--out", dir, "--force"); err != nil {
		t.Fatalf("cert --force: %v\n%s", err, out)
	}
	if after, _ := os.ReadFile(ca); bytes.Equal(after, before) {
		t.Error("cert --force left ca.pem as it was")
	}
}

func TestCertRefusesBadFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{nil, "--out: required"},
		{[]string{"--days", "0"}, "--days 0"},
		{[]string{"--host", "localhost:8883"}, `host "localhost:8883"`},
		{[]string{"--host", "a b"}, `host "a b"`},
	}
	for _, tt := range tests {
		args := tt.args
		if tt.want != "--out: required" {
			args = append([]string{"--out", t.TempDir()}, args...)
		}
		if _, err := runCertApp(t, args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("jmqx cert %s = %v, want an error containing %q", strings.Join(args, " "), err, tt.want)
		}
	}
}

// TestCertEnvVars cannot be parallel: it sets the process environment.
func TestCertEnvVars(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("JMQX_CERT_OUT", dir)
	t.Setenv("JMQX_CERT_HOST", "broker.test,127.0.0.2")
	t.Setenv("JMQX_CERT_CLIENT_CN", "env-client")
	if out, err := runCertApp(t); err != nil {
		t.Fatalf("cert: %v\n%s", err, out)
	}
	server, client := loadPair(t, dir, "server"), loadPair(t, dir, "client")
	if got := server.Leaf.DNSNames; len(got) != 1 || got[0] != "broker.test" || len(server.Leaf.IPAddresses) != 1 {
		t.Errorf("server.pem names %q %v, want broker.test and 127.0.0.2", got, server.Leaf.IPAddresses)
	}
	if got := client.Leaf.Subject.CommonName; got != "env-client" {
		t.Errorf("client CN = %q, want env-client", got)
	}
}

func TestCertFlagsDocumented(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	app := newApp(appEnv{stdout: &out, stderr: io.Discard})
	if err := app.RunContext(context.Background(), []string{"jmqx", "cert", "--help"}); err != nil {
		t.Fatalf("cert --help: %v", err)
	}
	help := out.String()
	for _, f := range certFlags() {
		name := f.Names()[0]
		df, ok := f.(cli.DocGenerationFlag)
		if !ok || df.GetUsage() == "" {
			t.Errorf("--%s has no help text", name)
			continue
		}
		env := "JMQX_CERT_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if got := df.GetEnvVars(); len(got) != 1 || got[0] != env {
			t.Errorf("--%s env vars = %v, want [%s]", name, got, env)
		}
		for _, want := range []string{"--" + name, env} {
			if !strings.Contains(help, want) {
				t.Errorf("cert --help lacks %q:\n%s", want, help)
			}
		}
	}
}

func TestShellQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"certs/ca.pem": "certs/ca.pem",
		"my certs/x":   "'my certs/x'",
		"it's":         `'it'\''s'`,
		"":             "''",
		"::1":          "::1",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
