package certgen

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Names of the files WriteFiles writes.
const (
	CACertFile     = "ca.pem"
	CAKeyFile      = "ca-key.pem"
	ServerCertFile = "server.pem"
	ServerKeyFile  = "server-key.pem"
	ClientCertFile = "client.pem"
	ClientKeyFile  = "client-key.pem"
)

// File modes of what WriteFiles writes (before the umask, for the
// directory).
const (
	DirMode  fs.FileMode = 0o750
	CertMode fs.FileMode = 0o644
	KeyMode  fs.FileMode = 0o600
)

// file is one file of a Bundle.
type file struct {
	name string
	data []byte
	mode fs.FileMode
}

func (b *Bundle) files() []file {
	return []file{
		{CACertFile, b.CA.CertPEM, CertMode},
		{CAKeyFile, b.CA.KeyPEM, KeyMode},
		{ServerCertFile, b.Server.CertPEM, CertMode},
		{ServerKeyFile, b.Server.KeyPEM, KeyMode},
		{ClientCertFile, b.Client.CertPEM, CertMode},
		{ClientKeyFile, b.Client.KeyPEM, KeyMode},
	}
}

// WriteFiles writes the bundle as PEM files in dir, creating dir (DirMode)
// and its parents if missing: ca.pem, ca-key.pem, server.pem,
// server-key.pem, client.pem and client-key.pem, keys with KeyMode and
// certificates with CertMode. It returns the paths written, in that order.
//
// Unless overwrite is set, it writes nothing if any of the files exists,
// and returns an *fs.PathError for the first such file wrapping
// fs.ErrExist. With overwrite, each file is replaced by a rename, so a
// reader sees the old file or the new one. On other errors the paths
// returned are those written before the failure.
func (b *Bundle) WriteFiles(dir string, overwrite bool) ([]string, error) {
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return nil, fmt.Errorf("certgen: %w", err)
	}
	files := b.files()
	if !overwrite {
		for _, f := range files {
			path := filepath.Join(dir, f.name)
			if _, err := os.Lstat(path); err == nil {
				return nil, fmt.Errorf("certgen: %w", &fs.PathError{Op: "write", Path: path, Err: fs.ErrExist})
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("certgen: %w", err)
			}
		}
	}
	written := make([]string, 0, len(files))
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		write := createFile
		if overwrite {
			write = replaceFile
		}
		if err := write(path, f.data, f.mode); err != nil {
			return written, fmt.Errorf("certgen: %w", err)
		}
		written = append(written, path)
	}
	return written, nil
}

// createFile writes a new file at path, failing if one exists (a file
// created since WriteFiles looked is not overwritten either).
func createFile(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if err := finish(f, data, mode); err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}

// replaceFile writes data to a temporary file next to path and renames it
// over path.
func replaceFile(path string, data []byte, mode fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if err := finish(f, data, mode); err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	return nil
}

// finish writes data to f, sets its mode exactly (whatever the umask) and
// closes it.
func finish(f *os.File, data []byte, mode fs.FileMode) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
