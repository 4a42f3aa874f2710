package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jmqx/jmqx/admin"
	"github.com/jmqx/jmqx/tenant"
)

// adminAPI is the part of the admin API client that the client commands
// (tenant, user, acl, cluster) use. *admin.Client implements it; tests pass
// a fake through appEnv.newAdmin.
type adminAPI interface {
	Tenants(ctx context.Context) ([]admin.TenantView, error)
	Tenant(ctx context.Context, name string) (admin.TenantView, error)
	CreateTenant(ctx context.Context, spec tenant.Spec) (admin.TenantView, error)
	PutTenant(ctx context.Context, spec tenant.Spec) (admin.TenantView, error)
	UpdateTenant(ctx context.Context, spec tenant.Spec, revision string) (admin.TenantView, error)
	DeleteTenant(ctx context.Context, name string) error
	TenantStatus(ctx context.Context, name string) ([]admin.NodeStatus, error)
	Users(ctx context.Context, tenant string) ([]admin.UserView, error)
	AddUser(ctx context.Context, tenant, name, passwordHash string) error
	RotateUser(ctx context.Context, tenant, name, passwordHash string, revokeOld bool) error
	RemoveUser(ctx context.Context, tenant, name string) error
	ACL(ctx context.Context, tenant string) (tenant.ACL, error)
	PutACL(ctx context.Context, tenant string, acl tenant.ACL) error
	UpdateACL(ctx context.Context, tenant string, acl tenant.ACL, revision string) error
	AddRule(ctx context.Context, tenant string, rule tenant.Rule, position int) (tenant.ACL, error)
	RemoveRule(ctx context.Context, tenant string, index int) (tenant.ACL, error)
	Members(ctx context.Context) ([]admin.MemberView, error)
	RemoveMember(ctx context.Context, id string) error
}

var _ adminAPI = (*admin.Client)(nil)

// defaultServer is the default of --server: the admin API of a node on
// this machine.
const defaultServer = "127.0.0.1:18083"

// defaultStartWait is the default of --start-wait: how long a client
// command waits for a node that is starting (see admin.WithStartWait).
const defaultStartWait = 10 * time.Second

// clientFlags returns fresh --server, --token and --json flags. Every
// client command group and each of its commands has them, so they may be
// given before or after the command's name; the one nearest the command
// wins.
func clientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:     "server",
			Value:    defaultServer,
			Usage:    "admin API of any cluster node: `HOST:PORT` or an http:// or https:// URL",
			EnvVars:  []string{"JMQX_SERVER"},
			Category: categoryClient,
		},
		&cli.StringFlag{
			Name:     "token",
			Usage:    "bearer `TOKEN` of the admin API (prefer the environment variable: arguments are visible to other users)",
			EnvVars:  []string{"JMQX_TOKEN"},
			Category: categoryClient,
		},
		&cli.PathFlag{
			Name:     "ca",
			Usage:    "trust the CA certificates in PEM `FILE` for an https:// --server (default: the system's)",
			EnvVars:  []string{"JMQX_CA"},
			Category: categoryClient,
		},
		&cli.DurationFlag{
			Name:     "start-wait",
			Value:    defaultStartWait,
			Usage:    "wait up to `DURATION` for a node that is starting (connection refused, or no leader elected yet), retrying; 0: fail at once",
			EnvVars:  []string{"JMQX_START_WAIT"},
			Category: categoryClient,
		},
		&cli.BoolFlag{
			Name:     "json",
			Usage:    "print machine-readable JSON (indented by two spaces) instead of tables",
			Category: categoryClient,
		},
	}
}

// fromLineage returns the context, among c and its parents, of the nearest
// command where the flag name was given on the command line or through its
// environment variable, or c if none was.
func fromLineage(c *cli.Context, name string) *cli.Context {
	for _, cc := range c.Lineage() {
		if cc.Command != nil && hasFlag(cc.Command.Flags, name) && cc.IsSet(name) {
			return cc
		}
	}
	return c
}

// hasFlag reports whether flags has one named name.
func hasFlag(flags []cli.Flag, name string) bool {
	return findFlag(flags, name) != nil
}

// findFlag returns the flag of flags with the name or alias name, or nil.
func findFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// newAdminAPI returns the admin API client that --server and --token say.
func newAdminAPI(env appEnv, c *cli.Context) (adminAPI, error) {
	server := fromLineage(c, "server").String("server")
	token := fromLineage(c, "token").String("token")
	if env.newAdmin != nil {
		return env.newAdmin(server, token)
	}
	opts := []admin.ClientOption{admin.WithStartWait(fromLineage(c, "start-wait").Duration("start-wait"))}
	if ca := fromLineage(c, "ca").Path("ca"); ca != "" {
		pool, err := loadCAPool(ca)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		opts = append(opts, admin.WithTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	}
	cl, err := admin.NewClient(server, token, opts...)
	if err != nil {
		return nil, fmt.Errorf("--server %q: %w", server, err)
	}
	return cl, nil
}

// loadCAPool reads the PEM certificates of file into a new pool.
func loadCAPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return pool, nil
}

// casAttempts bounds how often a read-modify-write command (tenant update,
// acl default) reads again after another change came in between.
const casAttempts = 5

// retryChanged runs f until it does not fail with admin.ErrChanged (the
// tenant changed between f's read and its conditional write), at most
// casAttempts times.
func retryChanged(f func() error) error {
	var err error
	for range casAttempts {
		if err = f(); !errors.Is(err, admin.ErrChanged) {
			return err
		}
	}
	return err
}

// usageError is a mistake in a command's arguments or flags.
type usageError struct {
	cmd string // "tenant create"
	msg string
}

func (e *usageError) Error() string {
	if e.cmd == "" {
		return fmt.Sprintf("%s (see jmqx --help)", e.msg)
	}
	return fmt.Sprintf("%s: %s (see jmqx %s --help)", e.cmd, e.msg, e.cmd)
}

// onUsageError replaces cli's "Incorrect Usage" message and help on
// stdout by one error line, which main prints on stderr.
func onUsageError(c *cli.Context, err error, _ bool) error {
	return &usageError{cmd: commandPath(c), msg: err.Error()}
}

// commandPath returns the names of c's command and its parents, such as
// "tenant create".
func commandPath(c *cli.Context) string {
	var names []string
	for _, cc := range c.Lineage() {
		if cc.Command != nil && cc.Command.Name != "" && cc.Command.Name != c.App.Name {
			names = append([]string{cc.Command.Name}, names...)
		}
	}
	return strings.Join(names, " ")
}

// clientRun is one run of a client command.
type clientRun struct {
	c    *cli.Context
	env  appEnv
	name string   // "tenant create"
	args []string // the positional arguments, checked against the command's
	json bool     // --json
	api  adminAPI
}

// ctx is the run's context, cancelled by SIGINT or SIGTERM.
func (r *clientRun) ctx() context.Context { return r.c.Context }

// stdout is where results go.
func (r *clientRun) stdout() io.Writer { return r.env.stdout }

// stderr is where warnings and prompts go.
func (r *clientRun) stderr() io.Writer { return r.env.stderr }

// stdin is where passwords and "apply -f -" are read from.
func (r *clientRun) stdin() io.Reader {
	if r.env.stdin != nil {
		return r.env.stdin
	}
	return os.Stdin
}

// usage returns a usageError about the run's command.
func (r *clientRun) usage(format string, args ...any) error {
	return &usageError{cmd: r.name, msg: fmt.Sprintf(format, args...)}
}

// output prints v as JSON with --json, else calls human.
func (r *clientRun) output(v any, human func(w io.Writer) error) error {
	if r.json {
		return writeJSON(r.stdout(), v)
	}
	return human(r.stdout())
}

// clientCmd describes one client command: a leaf of a command group.
type clientCmd struct {
	name        string
	usage       string
	description string
	// args names the positional arguments, all required.
	args []string
	// optionalArgs names positional arguments that may be left out, after
	// args.
	optionalArgs []string
	flags        []cli.Flag
	run          func(r *clientRun) error
}

// command builds cmd as a subcommand of the group named group.
func (cmd clientCmd) command(env appEnv, group string) *cli.Command {
	name := group + " " + cmd.name
	argsUsage := strings.Join(cmd.args, " ")
	for _, a := range cmd.optionalArgs {
		argsUsage += " [" + a + "]"
	}
	flags := slices.Concat(cmd.flags, clientFlags(), []cli.Flag{helpFlag()})
	return &cli.Command{
		Name:        cmd.name,
		Usage:       cmd.usage,
		UsageText:   "jmqx " + name + " [options]" + strings.TrimRight(" "+argsUsage, " "),
		ArgsUsage:   argsUsage,
		Description: cmd.description,
		Flags:       flags,
		HideHelp:    true, // see newApp
		// parseInterspersed parses every flag: Go's flag package would stop
		// at the first argument, and swallow "--" unseen.
		SkipFlagParsing: true,
		OnUsageError:    onUsageError,
		Action: func(c *cli.Context) error {
			args, err := parseInterspersed(c, name)
			if err != nil {
				return err
			}
			if c.Bool("help") {
				// --help after an argument, which cli does not see.
				cli.HelpPrinter(c.App.Writer, cli.CommandHelpTemplate, c.Command)
				return nil
			}
			r := &clientRun{c: c, env: env, name: name, args: args, json: fromLineage(c, "json").Bool("json")}
			if len(args) < len(cmd.args) {
				return r.usage("%s is required", cmd.args[len(args)])
			}
			if len(args) > len(cmd.args)+len(cmd.optionalArgs) {
				return r.usage("unexpected argument %q", args[len(cmd.args)+len(cmd.optionalArgs)])
			}
			if r.api, err = newAdminAPI(env, c); err != nil {
				return err
			}
			return cmd.run(r)
		},
	}
}

// groupCommand builds a command group: jmqx NAME SUBCOMMAND.
func groupCommand(env appEnv, name, usage, description string, cmds []clientCmd) *cli.Command {
	subs := make([]*cli.Command, len(cmds))
	for i, cmd := range cmds {
		subs[i] = cmd.command(env, name)
	}
	return &cli.Command{
		Name:         name,
		Usage:        usage,
		UsageText:    "jmqx " + name + " [options] COMMAND [command options] [ARGUMENTS]",
		Description:  description,
		Flags:        append(clientFlags(), helpFlag()),
		HideHelp:     true, // see newApp
		Subcommands:  subs,
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return &usageError{cmd: name, msg: fmt.Sprintf("unknown command %q", c.Args().First())}
			}
			return cli.ShowSubcommandHelp(c)
		},
	}
}

// parseInterspersed sets the flags, before or after the positional
// arguments ("tenant create NAME --mqtt-port 1883"), and returns the
// positional arguments. "--" ends the flags, so that an argument starting
// with '-' can be given ("tenant delete -- -old").
func parseInterspersed(c *cli.Context, cmd string) ([]string, error) {
	var pos []string
	args := c.Args().Slice()
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := findFlag(c.Command.Flags, name)
		if f == nil {
			return nil, &usageError{cmd: cmd, msg: "flag provided but not defined: " + a}
		}
		if !hasValue {
			if _, isBool := f.(*cli.BoolFlag); isBool {
				value = "true"
			} else if i+1 < len(args) {
				i++
				value = args[i]
			} else {
				return nil, &usageError{cmd: cmd, msg: "flag needs an argument: " + a}
			}
		}
		// By the flag's own name: an alias (-f) is a value of its own.
		if err := c.Set(f.Names()[0], value); err != nil {
			return nil, &usageError{cmd: cmd, msg: fmt.Sprintf("invalid value %q for flag %s: %v", value, a, err)}
		}
	}
	return pos, nil
}

// Flag categories of the client commands' help.
const (
	categoryClient    = "Admin API:"
	categoryListeners = "Listeners:"
	categoryAuth      = "Authentication:"
	categoryLimits    = "Limits (0: the default; a negative quota: no limit):"
)

// specFlags returns fresh flags for the settings of a tenant.Spec, for
// tenant create and update.
func specFlags() []cli.Flag {
	port := func(name, what, def string) cli.Flag {
		return &cli.StringFlag{
			Name:        name + "-port",
			Usage:       fmt.Sprintf("`PORT` of the %s listener: a number, auto (a free port on each node) or off", what),
			DefaultText: def,
			Category:    categoryListeners,
		}
	}
	flags := []cli.Flag{
		port("mqtt", "MQTT (TCP)", "auto"),
		port("mqtts", "MQTT over TLS", "auto with TLS material, else off"),
		port("ws", "MQTT over WebSocket", "auto"),
		port("wss", "MQTT over secure WebSocket", "auto with TLS material, else off"),
		&cli.StringFlag{Name: "ws-path", Usage: "HTTP `PATH` of the WebSocket listeners", DefaultText: tenant.DefaultWSPath, Category: categoryListeners},
		&cli.StringFlag{Name: "tls-cert", Usage: "the tenant's own certificate (chain) PEM `FILE` on each node, for MQTTS and WSS (--tls-cert \"\" --tls-key \"\": back to the node's)", DefaultText: "the node's", Category: categoryListeners},
		&cli.StringFlag{Name: "tls-key", Usage: "private key PEM `FILE` of --tls-cert", Category: categoryListeners},
		&cli.StringFlag{Name: "tls-ca", Usage: "CA certificates PEM `FILE` that client certificates are verified against", Category: categoryListeners},
		&cli.StringFlag{Name: "tls-client-auth", Usage: "client certificates: `MODE` none, request or require", DefaultText: "none", Category: categoryListeners},
		&cli.BoolFlag{Name: "allow-anonymous", Usage: "admit clients that send no user name (=false refuses them)", Category: categoryAuth},
		&cli.StringSliceFlag{Name: "certificate-cn", Usage: "admit clients with a verified TLS client certificate whose common `NAME` is listed (comma-separated or repeated; replaces the list; \"\" empties it)", Category: categoryAuth},
	}
	return append(flags, limitFlags()...)
}

// applySpecFlags changes s as the flags given to c say, and only those.
func applySpecFlags(r *clientRun, s *tenant.Spec) error {
	c := r.c
	l := &s.Listeners
	for _, p := range []struct {
		flag string
		port *tenant.Port
	}{{"mqtt-port", &l.MQTT}, {"mqtts-port", &l.MQTTS}, {"ws-port", &l.WS}, {"wss-port", &l.WSS}} {
		if !c.IsSet(p.flag) {
			continue
		}
		v, err := parsePort(c.String(p.flag))
		if err != nil {
			return r.usage("--%s: %v", p.flag, err)
		}
		*p.port = v
	}
	if c.IsSet("ws-path") {
		l.WSPath = c.String("ws-path")
	}
	tlsFlags := []struct {
		flag  string
		field func(*tenant.TLS) *string
	}{
		{"tls-cert", func(t *tenant.TLS) *string { return &t.CertFile }},
		{"tls-key", func(t *tenant.TLS) *string { return &t.KeyFile }},
		{"tls-ca", func(t *tenant.TLS) *string { return &t.CAFile }},
		{"tls-client-auth", func(t *tenant.TLS) *string { return &t.ClientAuth }},
	}
	for _, f := range tlsFlags {
		if !c.IsSet(f.flag) {
			continue
		}
		if l.TLS == nil {
			l.TLS = &tenant.TLS{}
		}
		*f.field(l.TLS) = c.String(f.flag)
	}
	if l.TLS != nil && *l.TLS == (tenant.TLS{}) {
		l.TLS = nil
	}
	if c.IsSet("allow-anonymous") {
		s.Auth.AllowAnonymous = c.Bool("allow-anonymous")
	}
	if c.IsSet("certificate-cn") {
		var cns []string
		for _, cn := range c.StringSlice("certificate-cn") {
			if cn != "" {
				cns = append(cns, cn)
			}
		}
		s.Auth.CertificateCNs = cns
	}
	return applyLimitFlags(r, &s.Limits)
}

// parsePort reads a --*-port value.
func parsePort(v string) (tenant.Port, error) {
	switch p := tenant.Port(strings.ToLower(v)); p {
	case tenant.PortAuto, tenant.PortOff:
		return p, nil
	}
	p := tenant.Port(v)
	if _, ok := p.Number(); !ok {
		return "", fmt.Errorf("%q: want a port number (1-65535), auto or off", v)
	}
	return p, nil
}

// limitFlagName returns the flag of a Limits field: its JSON name with
// '-' for '_' (max_connections: --max-connections).
func limitFlagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return strings.ReplaceAll(name, "_", "-")
}

// limitHelp is the usage text and default of each Limits flag, keyed by
// the field's JSON name. A field missing here still gets a flag (see
// limitFlags), and a test fails.
var limitHelp = map[string]struct{ usage, def string }{
	"max_connections":                {"bound the tenant's concurrent connections to `N`", strconv.Itoa(tenant.DefaultMaxConnections)},
	"max_connects_per_second":        {"bound the tenant's connection attempts to `RATE` per second", strconv.Itoa(tenant.DefaultMaxConnectsPerSecond)},
	"max_client_messages_per_second": {"bound the messages one client publishes to `RATE` per second", "no limit"},
	"max_client_bytes_per_second":    {"bound the bytes one client publishes to `RATE` per second", "no limit"},
	"max_messages_per_second":        {"bound the messages the whole tenant publishes to `RATE` per second", "no limit"},
	"max_bytes_per_second":           {"bound the bytes the whole tenant publishes to `RATE` per second", "no limit"},
	"max_subscriptions_per_client":   {"bound one session's subscriptions to `N`", strconv.Itoa(tenant.DefaultMaxSubscriptionsPerClient)},
	"max_subscription_bytes":         {"bound the total length of one session's topic filters to `BYTES`", strconv.Itoa(tenant.DefaultMaxSubscriptionBytes)},
	"max_retained_messages":          {"bound the tenant's retained messages to `N`", strconv.Itoa(tenant.DefaultMaxRetainedMessages)},
	"max_retained_bytes":             {"bound the total size of the tenant's retained messages to `BYTES`", strconv.Itoa(tenant.DefaultMaxRetainedBytes)},
	"max_packet_size":                {"refuse packets larger than `BYTES`", strconv.Itoa(tenant.DefaultMaxPacketSize)},
	"max_inflight":                   {"outbound QoS 1 and 2 window per client, `N` messages", strconv.Itoa(tenant.DefaultMaxInflight)},
	"max_queued_messages":            {"bound the messages queued per session to `N`", strconv.Itoa(tenant.DefaultMaxQueuedMessages)},
	"max_queued_bytes":               {"bound the bytes of the QoS 1 and 2 messages one session holds to `BYTES`", strconv.Itoa(tenant.DefaultMaxQueuedBytes)},
	"max_outbound_bytes":             {"bound the bytes waiting to be written to one slow client to `BYTES`", strconv.Itoa(tenant.DefaultMaxOutboundBytes)},
	"cluster_ack":                    {"when a publisher is acknowledged in a cluster: `MODE` all (once every node with a matching subscription has the message) or local (once this node has it)", "all"},
	"persistence":                    {"what is kept on disk and when a publisher is acknowledged: `MODE` default (written within the store interval), sync (acknowledged once fsynced on this node) or off (memory only); to or from off applies at the tenant's next start", "default"},
	"slow_consumer_wait_ms":          {"let a subscriber whose queue is full hold its publishers back at most `MILLISECONDS`", strconv.Itoa(tenant.DefaultSlowConsumerWaitMS)},
	"max_memory":                     {"bound the tenant's memory to `BYTES` (at least 1048576)", strconv.Itoa(tenant.DefaultMaxMemory)},
	"max_session_expiry":             {"cap the session expiry interval at `SECONDS`", strconv.Itoa(tenant.DefaultMaxSessionExpiry)},
	"min_keepalive":                  {"raise the keep alive of MQTT 5 clients asking for less to `SECONDS`", "no minimum"},
	"max_keepalive":                  {"lower the keep alive of MQTT 5 clients asking for more to `SECONDS`", strconv.Itoa(tenant.DefaultMaxKeepAlive)},
	"protocol_versions":              {"accept only these protocol levels, a comma-separated `LIST` of 3 (MQTT 3.1), 4 (3.1.1) and 5", "3,4,5"},
	"max_qos":                        {"highest QoS `LEVEL`, 1 or 2", strconv.Itoa(tenant.DefaultMaxQoS)},
	"retain":                         {"keep retained messages (--retain=false turns them off)", "true"},
	"wildcard_subscriptions":         {"allow subscriptions with + and # (=false turns them off)", "true"},
	"shared_subscriptions":           {"allow shared subscriptions, $share/GROUP/FILTER (=false turns them off)", "true"},
}

// limitFlags returns a fresh flag for every field of tenant.Limits, found
// by reflection so that a new field cannot be forgotten.
func limitFlags() []cli.Flag {
	t := reflect.TypeFor[tenant.Limits]()
	flags := make([]cli.Flag, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name := limitFlagName(f)
		field, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		help, ok := limitHelp[field]
		if !ok {
			help.usage = "set limits." + field + " to `VALUE` (see the tenant spec)"
			help.def = "see the tenant spec"
		}
		usage, def := help.usage, help.def
		var flag cli.Flag
		switch k := f.Type.Kind(); {
		case k >= reflect.Int && k <= reflect.Int64:
			flag = &cli.Int64Flag{Name: name, Usage: usage, Category: categoryLimits, DefaultText: def}
		case k >= reflect.Uint && k <= reflect.Uint64:
			flag = &cli.Uint64Flag{Name: name, Usage: usage, Category: categoryLimits, DefaultText: def}
		case k == reflect.Float32 || k == reflect.Float64:
			flag = &cli.Float64Flag{Name: name, Usage: usage, Category: categoryLimits, DefaultText: def}
		case k == reflect.String:
			flag = &cli.StringFlag{Name: name, Usage: usage, Category: categoryLimits, DefaultText: def}
		case k == reflect.Slice && f.Type.Elem().Kind() == reflect.Int:
			flag = &cli.StringFlag{Name: name, Usage: usage, Category: categoryLimits, DefaultText: def}
		case k == reflect.Pointer && f.Type.Elem().Kind() == reflect.Bool:
			flag = &cli.BoolFlag{Name: name, Usage: usage, Category: categoryLimits, DefaultText: def}
		default:
			panic(fmt.Sprintf("tenant.Limits.%s: no flag for type %s", f.Name, f.Type))
		}
		flags = append(flags, flag)
	}
	return flags
}

// applyLimitFlags sets the fields of l whose flags were given.
func applyLimitFlags(r *clientRun, l *tenant.Limits) error {
	c := r.c
	v := reflect.ValueOf(l).Elem()
	t := v.Type()
	for i := range t.NumField() {
		name := limitFlagName(t.Field(i))
		if !c.IsSet(name) {
			continue
		}
		fv := v.Field(i)
		switch k := fv.Kind(); {
		case k >= reflect.Int && k <= reflect.Int64:
			n := c.Int64(name)
			if fv.OverflowInt(n) {
				return r.usage("--%s %d: out of range", name, n)
			}
			fv.SetInt(n)
		case k >= reflect.Uint && k <= reflect.Uint64:
			n := c.Uint64(name)
			if fv.OverflowUint(n) {
				return r.usage("--%s %d: out of range", name, n)
			}
			fv.SetUint(n)
		case k == reflect.Float32 || k == reflect.Float64:
			fv.SetFloat(c.Float64(name))
		case k == reflect.String:
			fv.SetString(c.String(name))
		case k == reflect.Slice:
			list, err := parseIntList(c.String(name))
			if err != nil {
				return r.usage("--%s: %v", name, err)
			}
			fv.Set(reflect.ValueOf(list))
		case k == reflect.Pointer:
			b := c.Bool(name)
			fv.Set(reflect.ValueOf(&b))
		}
	}
	return nil
}

// parseIntList reads "3,4,5"; the empty string is nil (the default).
func parseIntList(s string) ([]int, error) {
	var list []int
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil, fmt.Errorf("%q: want comma-separated numbers", s)
		}
		list = append(list, n)
	}
	return list, nil
}
