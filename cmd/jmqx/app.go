package main

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/urfave/cli/v2"
)

// appEnv is what the app takes from the process, so tests can run it in
// process with their own writers.
type appEnv struct {
	stdout io.Writer // help and command output
	stderr io.Writer // logs
	// ready, if set, is called by serve with the MQTT listener's bound
	// address once it accepts connections (tests bind port 0 and read it).
	ready func(mqtt net.Addr)
	// stdin is where the client commands read passwords and specs; nil:
	// os.Stdin.
	stdin io.Reader
	// newAdmin, if set, replaces admin.NewClient for the client commands.
	newAdmin func(server, token string) (adminAPI, error)
	// hashPassword, if set, replaces tenant.HashPassword (tests use a
	// cheaper bcrypt cost).
	hashPassword func(password []byte) (string, error)
	// bindWait bounds how long tenant create waits for the nodes to report
	// the addresses they bound; 0: defaultBindWait.
	bindWait time.Duration
}

// defaultBindWait is appEnv.bindWait's default.
const defaultBindWait = 3 * time.Second

// newApp builds the jmqx command line. It never calls os.Exit: errors are
// returned by RunContext, and main reports them.
func newApp(env appEnv) *cli.App {
	return &cli.App{
		Name:  "jmqx",
		Usage: "a lightweight MQTT 3.1, 3.1.1 and 5.0 broker",
		Description: "jmqx is an MQTT broker that runs as a library or as this service.\n" +
			"Every flag can also be set with the environment variable shown in its help.",
		Writer:    env.stdout,
		ErrWriter: env.stderr,
		Commands: []*cli.Command{
			serveCommand(env), certCommand(env),
			tenantCommand(env), userCommand(env), aclCommand(env), clusterCommand(env),
		},
		Flags: []cli.Flag{helpFlag()},
		// cli's own --help and --version flags are package-level values
		// that every run writes to, which races when tests run apps in
		// parallel; each app gets its own help flag instead (cli still
		// recognises it by name) and there is no version yet.
		HideHelp:    true,
		HideVersion: true,
		// Leave errors to main rather than letting cli exit the process.
		ExitErrHandler: func(*cli.Context, error) {},
		// A bad flag or command is one line on stderr (main prints the
		// error) and exit status 1, never usage text on stdout.
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return &usageError{msg: fmt.Sprintf("unknown command %q", c.Args().First())}
			}
			return cli.ShowAppHelp(c)
		},
	}
}

// helpFlag returns a fresh --help flag, which cli handles by its name.
func helpFlag() cli.Flag {
	return &cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help", DisableDefaultText: true}
}
