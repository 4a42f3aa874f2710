package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jmqx/jmqx/internal/certgen"
)

// defaultCertDays is the default of cert --days.
const defaultCertDays = 365

// certConfig is what the cert flags say.
type certConfig struct {
	out      string
	hosts    []string
	clientCN string
	days     int
	force    bool
}

func certCommand(env appEnv) *cli.Command {
	return &cli.Command{
		Name:  "cert",
		Usage: "write a development CA with a server and a client certificate",
		Description: "cert makes a new certificate authority and uses it to sign a server\n" +
			"certificate for the --host names and a client certificate, then writes them\n" +
			"with their keys (ECDSA P-256, PKCS #8) as PEM files in --out: ca.pem,\n" +
			"ca-key.pem, server.pem, server-key.pem, client.pem and client-key.pem.\n" +
			"It is for development and tests only: give ca.pem to your test clients,\n" +
			"never to a system's trusted roots, and keep ca-key.pem to yourself.",
		Flags:        append(certFlags(), helpFlag()),
		HideHelp:     true, // see newApp
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			return runCert(env, certConfig{
				out:      c.Path("out"),
				hosts:    c.StringSlice("host"),
				clientCN: c.String("client-cn"),
				days:     c.Int("days"),
				force:    c.Bool("force"),
			})
		},
	}
}

func certFlags() []cli.Flag {
	return []cli.Flag{
		&cli.PathFlag{
			Name:    "out",
			Usage:   "write the files to `DIR`, created (mode 0750) if missing; required",
			EnvVars: []string{"JMQX_CERT_OUT"},
		},
		&cli.StringSliceFlag{
			Name: "host",
			Usage: "make the server certificate valid for `NAME_OR_IP`, a DNS name or an IP address; " +
				"repeat it or separate with commas; default: localhost, 127.0.0.1 and ::1",
			EnvVars: []string{"JMQX_CERT_HOST"},
		},
		&cli.StringFlag{
			Name:    "client-cn",
			Value:   certgen.DefaultClientCN,
			Usage:   "common `NAME` of the client certificate (the user name with serve --tls-cn-as-username)",
			EnvVars: []string{"JMQX_CERT_CLIENT_CN"},
		},
		&cli.IntFlag{
			Name:    "days",
			Value:   defaultCertDays,
			Usage:   "keep the certificates valid for `N` days",
			EnvVars: []string{"JMQX_CERT_DAYS"},
		},
		&cli.BoolFlag{
			Name:    "force",
			Usage:   "overwrite files already in --out",
			EnvVars: []string{"JMQX_CERT_FORCE"},
		},
	}
}

// runCert generates the certificates, writes them and tells how to use them.
func runCert(env appEnv, cfg certConfig) error {
	if cfg.out == "" {
		return errors.New("--out: required: give the directory to write the certificates to")
	}
	if cfg.days < 1 {
		return fmt.Errorf("--days %d: must be at least 1", cfg.days)
	}
	b, err := certgen.Generate(certgen.Options{
		Hosts:    cfg.hosts,
		ClientCN: cfg.clientCN,
		Validity: time.Duration(cfg.days) * 24 * time.Hour,
	})
	if err != nil {
		return fmt.Errorf("--host: %w", err)
	}
	paths, err := b.WriteFiles(cfg.out, cfg.force)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w; pass --force to overwrite", err)
	}
	if err != nil {
		return err
	}
	printCertUsage(env.stdout, cfg.out, b, paths)
	return nil
}

// printCertUsage lists the files written and the commands that use them.
func printCertUsage(w io.Writer, dir string, b *certgen.Bundle, paths []string) {
	for _, p := range paths {
		fmt.Fprintln(w, "wrote", p)
	}
	fmt.Fprintf(w, "\nThe server certificate is valid for %s until %s.\n",
		strings.Join(b.Hosts, ", "), b.Server.Cert.NotAfter.UTC().Format(time.DateOnly))
	fmt.Fprintln(w, "For development and tests only: keep ca-key.pem private and never trust ca.pem system-wide.")

	file := func(name string) string { return shellQuote(filepath.Join(dir, name)) }
	host := shellQuote(b.Hosts[0])
	fmt.Fprintf(w, "\nServe MQTT over TLS on port 8883, requiring client certificates:\n"+
		"  jmqx serve --tls-cert %s --tls-key %s --tls-ca %s --tls-client-auth require\n",
		file(certgen.ServerCertFile), file(certgen.ServerKeyFile), file(certgen.CACertFile))
	fmt.Fprintf(w, "Subscribe over TLS (serve without --tls-client-auth require):\n"+
		"  mosquitto_sub --cafile %s -h %s -p 8883 -t '#'\n",
		file(certgen.CACertFile), host)
	fmt.Fprintf(w, "Subscribe with the client certificate (mutual TLS):\n"+
		"  mosquitto_sub --cafile %s --cert %s --key %s -h %s -p 8883 -t '#'\n",
		file(certgen.CACertFile), file(certgen.ClientCertFile), file(certgen.ClientKeyFile), host)
}

// shellQuote returns s as one POSIX shell word: unchanged if it is made of
// characters no shell treats specially, else single-quoted.
func shellQuote(s string) string {
	safe := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-_./:,+=@%", r))
	}) < 0
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
