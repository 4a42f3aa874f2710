package certgen

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// wantFiles are the files WriteFiles writes, in order, with their modes.
var wantFiles = []struct {
	name string
	mode fs.FileMode
}{
	{"ca.pem", 0o644}, {"ca-key.pem", 0o600},
	{"server.pem", 0o644}, {"server-key.pem", 0o600},
	{"client.pem", 0o644}, {"client-key.pem", 0o600},
}

func TestWriteFiles(t *testing.T) {
	t.Parallel()
	b := generate(t, Options{})
	dir := filepath.Join(t.TempDir(), "nested", "certs")
	paths, err := b.WriteFiles(dir, false)
	if err != nil {
		t.Fatalf("WriteFiles: %v", err)
	}
	var want []string
	for _, f := range wantFiles {
		want = append(want, filepath.Join(dir, f.name))
	}
	if !slices.Equal(paths, want) {
		t.Errorf("WriteFiles = %q, want %q", paths, want)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || fi.Mode().Perm()&^DirMode != 0 {
		t.Errorf("dir %s: %v, %v; want a directory with at most mode %v", dir, fi, err, DirMode)
	}
	for _, f := range wantFiles {
		fi, err := os.Stat(filepath.Join(dir, f.name))
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode().Perm() != f.mode {
			t.Errorf("%s: mode %v, want %v", f.name, fi.Mode().Perm(), f.mode)
		}
	}

	// The files load as TLS key pairs, and the keys are PKCS #8.
	for _, pair := range [][2]string{{"server.pem", "server-key.pem"}, {"client.pem", "client-key.pem"}, {"ca.pem", "ca-key.pem"}} {
		if _, err := tls.LoadX509KeyPair(filepath.Join(dir, pair[0]), filepath.Join(dir, pair[1])); err != nil {
			t.Errorf("load %s: %v", pair[0], err)
		}
		keyPEM, _ := os.ReadFile(filepath.Join(dir, pair[1]))
		block, rest := pem.Decode(keyPEM)
		if block == nil || block.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
			t.Errorf("%s: want one PKCS #8 PRIVATE KEY block", pair[1])
			continue
		}
		if key, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
			t.Errorf("%s: %v", pair[1], err)
		} else if _, ok := key.(*ecdsa.PrivateKey); !ok {
			t.Errorf("%s: %T, want an ECDSA key", pair[1], key)
		}
	}
	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	if _, err := b.Server.Cert.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: pool}); err != nil {
		t.Errorf("server certificate against ca.pem: %v", err)
	}
}

func TestWriteFilesRefusesOverwrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	existing := filepath.Join(dir, "server-key.pem")
	if err := os.WriteFile(existing, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := generate(t, Options{})
	paths, err := b.WriteFiles(dir, false)
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrExist) || !errors.As(err, &pe) || pe.Path != existing || !strings.Contains(err.Error(), existing) {
		t.Fatalf("WriteFiles over %s = %q, %v; want an fs.ErrExist naming it", existing, paths, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(paths) != 0 || len(entries) != 1 {
		t.Errorf("WriteFiles refused but left %d entries in %s", len(entries), dir)
	}
	if got, _ := os.ReadFile(existing); string(got) != "keep me" {
		t.Errorf("%s changed to %q", existing, got)
	}

	// With overwrite, every file is replaced, with the right mode.
	if _, err := b.WriteFiles(dir, true); err != nil {
		t.Fatalf("WriteFiles with overwrite: %v", err)
	}
	got, _ := os.ReadFile(existing)
	if !bytes.Equal(got, b.Server.KeyPEM) {
		t.Errorf("%s not replaced", existing)
	}
	if fi, _ := os.Stat(existing); fi.Mode().Perm() != KeyMode {
		t.Errorf("replaced %s: mode %v, want %v", existing, fi.Mode().Perm(), KeyMode)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != len(wantFiles) {
		t.Errorf("%d entries in %s after overwrite, want %d (temporary files left?)", len(entries), dir, len(wantFiles))
	}
}
