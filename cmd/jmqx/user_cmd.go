package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/jmqx/jmqx/admin"
	"github.com/jmqx/jmqx/tenant"
)

// maxPasswordLen is bcrypt's limit on what it reads of a password.
const maxPasswordLen = 72

func userCommand(env appEnv) *cli.Command {
	return groupCommand(env, "user", "manage a tenant's users (MQTT user names and passwords)",
		"Passwords are hashed here (bcrypt) and only the hash is sent to the cluster.\n"+
			"By default they are asked for on the terminal, without echo.",
		[]clientCmd{
			{
				name:  "add",
				usage: "add a user to a tenant",
				description: "add asks for the password twice on the terminal, or reads one line from\n" +
					"standard input with --password-stdin (printf '%s\\n' \"$PW\" | jmqx user add\n" +
					"TENANT USER --password-stdin).",
				args:  []string{"TENANT", "USER"},
				flags: passwordFlags(),
				run:   runUserAdd,
			},
			{
				name:  "list",
				usage: "list a tenant's users and how many credentials each has",
				args:  []string{"TENANT"},
				run:   runUserList,
			},
			{
				name:  "remove",
				usage: "remove a user from a tenant",
				args:  []string{"TENANT", "USER"},
				run:   runUserRemove,
			},
			{
				name:  "rotate",
				usage: "give a user a new password, keeping or revoking the old ones",
				description: "rotate adds a second password to the user, so that clients can move to it\n" +
					"while the old one still works. Once they have, \"rotate --revoke-old\" (with\n" +
					"no password) drops the older passwords and keeps the newest. With a new\n" +
					"password, --revoke-old replaces every old one at once. Clients connected\n" +
					"with a revoked password are disconnected (MQTT 5: DISCONNECT 0x87).\n" +
					"The password is read as for user add.",
				args: []string{"TENANT", "USER"},
				flags: append(passwordFlags(), &cli.BoolFlag{
					Name:  "revoke-old",
					Usage: "drop the user's older passwords (alone: keep the newest; with a new password: keep only that one); clients using them are disconnected",
				}),
				run: runUserRotate,
			},
		})
}

// passwordFlags returns fresh flags for the ways of giving a password.
func passwordFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{
			Name:  "password-stdin",
			Usage: "read the password from the first line of standard input",
		},
		&cli.StringFlag{
			Name:  "password",
			Usage: "the `PASSWORD` (unsafe: other users of this machine can see arguments; prefer --password-stdin)",
		},
	}
}

func runUserAdd(r *clientRun) error {
	hash, err := passwordHash(r)
	if err != nil {
		return err
	}
	if err := r.api.AddUser(r.ctx(), r.args[0], r.args[1], hash); err != nil {
		return err
	}
	return r.done("user %s added to tenant %s", r.args[1], r.args[0])
}

func runUserRotate(r *clientRun) error {
	revoke := r.c.Bool("revoke-old")
	var hash string
	// --revoke-old alone finishes a rotation: no new password is asked
	// for, and only the newest one stays.
	if !revoke || r.c.IsSet("password") || r.c.Bool("password-stdin") {
		var err error
		if hash, err = passwordHash(r); err != nil {
			return err
		}
	}
	if err := r.api.RotateUser(r.ctx(), r.args[0], r.args[1], hash, revoke); err != nil {
		return err
	}
	if revoke && hash == "" {
		return r.done("user %s of tenant %s keeps only its newest password; the older ones are revoked", r.args[1], r.args[0])
	}
	if revoke {
		return r.done("user %s of tenant %s has a new password; the old ones are revoked", r.args[1], r.args[0])
	}
	return r.done("user %s of tenant %s has a new password; the old ones still work until rotated with --revoke-old", r.args[1], r.args[0])
}

func runUserRemove(r *clientRun) error {
	if err := r.api.RemoveUser(r.ctx(), r.args[0], r.args[1]); err != nil {
		return err
	}
	return r.done("user %s removed from tenant %s", r.args[1], r.args[0])
}

func runUserList(r *clientRun) error {
	users, err := r.api.Users(r.ctx(), r.args[0])
	if err != nil {
		return err
	}
	if users == nil {
		users = []admin.UserView{}
	}
	return r.output(users, func(w io.Writer) error {
		t := newTable(w, "NAME", "CREDENTIALS")
		for _, u := range users {
			t.row(u.Name, strconv.Itoa(u.Credentials))
		}
		return t.flush()
	})
}

// done prints the confirmation of a command that returns nothing; with
// --json it prints nothing: the exit status tells.
func (r *clientRun) done(format string, args ...any) error {
	if r.json {
		return nil
	}
	_, err := fmt.Fprintf(r.stdout(), format+"\n", args...)
	return err
}

// passwordHash gets the password the flags say and hashes it.
func passwordHash(r *clientRun) (string, error) {
	pw, err := readPassword(r)
	if err != nil {
		return "", err
	}
	hashPassword := r.env.hashPassword
	if hashPassword == nil {
		hashPassword = tenant.HashPassword
	}
	hash, err := hashPassword(pw)
	clear(pw)
	return hash, err
}

// readPassword gets the password from --password, standard input
// (--password-stdin) or the terminal, and checks it.
func readPassword(r *clientRun) ([]byte, error) {
	c := r.c
	var pw []byte
	switch fromStdin, given := c.Bool("password-stdin"), c.IsSet("password"); {
	case fromStdin && given:
		return nil, r.usage("give either --password or --password-stdin")
	case given:
		fmt.Fprintln(r.stderr(), "jmqx: warning: --password is visible to other users of this machine (ps, /proc); prefer --password-stdin or the prompt")
		pw = []byte(c.String("password"))
	case fromStdin:
		line, err := bufio.NewReader(r.stdin()).ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("reading the password from standard input: %w", err)
		}
		pw = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	default:
		var err error
		if pw, err = promptPassword(r); err != nil {
			return nil, err
		}
	}
	switch {
	case len(pw) == 0:
		return nil, errors.New("the password is empty")
	case len(pw) > maxPasswordLen:
		return nil, fmt.Errorf("the password is %d bytes long; at most %d are allowed", len(pw), maxPasswordLen)
	}
	return pw, nil
}

// promptPassword asks for the password twice on the terminal, without
// echo.
func promptPassword(r *clientRun) ([]byte, error) {
	f, ok := r.stdin().(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, r.usage("standard input is not a terminal: give the password with --password-stdin")
	}
	fd := int(f.Fd())
	fmt.Fprintf(r.stderr(), "Password for %s: ", r.args[1])
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(r.stderr())
	if err != nil {
		return nil, fmt.Errorf("reading the password: %w", err)
	}
	fmt.Fprint(r.stderr(), "Repeat it: ")
	again, err := term.ReadPassword(fd)
	fmt.Fprintln(r.stderr())
	if err != nil {
		return nil, fmt.Errorf("reading the password: %w", err)
	}
	defer clear(again)
	if !bytes.Equal(pw, again) {
		clear(pw)
		return nil, errors.New("the passwords do not match")
	}
	return pw, nil
}
