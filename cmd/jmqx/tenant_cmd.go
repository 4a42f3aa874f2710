package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"sigs.k8s.io/yaml"

	"github.com/jmqx/jmqx/admin"
	"github.com/jmqx/jmqx/tenant"
)

func tenantCommand(env appEnv) *cli.Command {
	return groupCommand(env, "tenant", "create, change and inspect tenants",
		"A tenant is an isolated MQTT broker with its own listeners, users, ACL and\n"+
			"limits, run by every node of the cluster. These commands talk to the admin\n"+
			"API of any node (--server); changes are forwarded to the leader.",
		[]clientCmd{
			{
				name:  "create",
				usage: "create a tenant",
				description: "create makes a tenant from the flags; unset flags keep their defaults.\n" +
					"It prints the addresses each node bound for the tenant's listeners.",
				args:  []string{"NAME"},
				flags: specFlags(),
				run:   runTenantCreate,
			},
			{
				name:  "list",
				usage: "list the tenants and the addresses their listeners are bound to",
				run:   runTenantList,
			},
			{
				name:  "show",
				usage: "show a tenant's settings and bound addresses",
				description: "show summarizes the tenant's spec (listeners, anonymous access, number of\n" +
					"users and ACL rules, the limits that differ from the defaults) and lists\n" +
					"the addresses each node bound. With --json it prints the whole tenant:\n" +
					"{\"name\", \"spec\", \"nodes\"}.",
				args: []string{"NAME"},
				run:  runTenantShow,
			},
			{
				name:  "update",
				usage: "change a tenant's settings",
				description: "update reads the tenant's spec, changes what the given flags say, and\n" +
					"writes it back; settings whose flags are not given are left alone.\n" +
					"Boolean flags are turned off with =false (--retain=false).",
				args:  []string{"NAME"},
				flags: specFlags(),
				run:   runTenantUpdate,
			},
			{
				name:  "delete",
				usage: "delete a tenant, disconnecting its clients and dropping its state",
				args:  []string{"NAME"},
				run:   runTenantDelete,
			},
			{
				name:  "apply",
				usage: "create or replace tenants from a spec file",
				description: "apply reads tenant specs from a JSON or YAML file (-f FILE, or -f - for\n" +
					"standard input): one spec, a list of specs, or several YAML documents\n" +
					"separated by \"---\". Field names are the spec's JSON names (limits:\n" +
					"{max_connections: 500}); unknown fields are refused. Every spec is\n" +
					"checked before any is written. Each tenant is created or replaced\n" +
					"as a whole: users, ACL and limits not in the file are removed.\n" +
					"--dry-run prints what would change and writes nothing:\n" +
					"  ~ limits.max_connections: 10000 -> 500\n" +
					"  + auth.users[bob]\n" +
					"  - acl.rules[2]: deny all \"secret/#\"",
				flags: []cli.Flag{
					&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "read the specs from `FILE` (.json, .yaml or .yml; - for standard input); required"},
					&cli.BoolFlag{Name: "dry-run", Usage: "print the changes against the current specs and write nothing"},
				},
				run: runTenantApply,
			},
			{
				name:  "status",
				usage: "show a tenant's live figures on each node",
				description: "status asks every node for the tenant's connections, sessions,\n" +
					"subscriptions, retained messages, message rates, dropped messages and\n" +
					"refused connections or publishes (by reason).",
				args: []string{"NAME"},
				run:  runTenantStatus,
			},
		})
}

func runTenantCreate(r *clientRun) error {
	spec := tenant.Spec{Name: r.args[0]}
	if err := applySpecFlags(r, &spec); err != nil {
		return err
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	v, err := r.api.CreateTenant(r.ctx(), spec)
	if err != nil {
		return err
	}
	v = waitBound(r, v)
	return r.output(v, func(w io.Writer) error {
		fmt.Fprintf(w, "tenant %s created\n", v.Name)
		return writeBound(w, v)
	})
}

func runTenantUpdate(r *clientRun) error {
	// Read, change only what the flags say, and write back only if nobody
	// changed the tenant in between (else read again), so that concurrent
	// updates of different fields do not undo each other.
	var v admin.TenantView
	err := retryChanged(func() error {
		cur, err := r.api.Tenant(r.ctx(), r.args[0])
		if err != nil {
			return err
		}
		spec := cur.Spec.Clone()
		if err := applySpecFlags(r, &spec); err != nil {
			return err
		}
		if err := spec.Validate(); err != nil {
			return err
		}
		v, err = r.api.UpdateTenant(r.ctx(), spec, cur.Revision)
		return err
	})
	if err != nil {
		return err
	}
	return r.output(v, func(w io.Writer) error {
		fmt.Fprintf(w, "tenant %s updated\n", v.Name)
		return writeBound(w, v)
	})
}

// waitBound gives the nodes a moment to bind a new tenant's listeners and
// report them (polling, up to env.bindWait), so that create can print the
// addresses; it returns the latest view either way. A tenant whose spec
// turns on no listener by itself returns at once: there is nothing to
// wait for.
func waitBound(r *clientRun, v admin.TenantView) admin.TenantView {
	if listenersOf(v.Spec) != listenersOn {
		return v
	}
	wait := r.env.bindWait
	if wait == 0 {
		wait = defaultBindWait
	}
	deadline := time.Now().Add(wait)
	for len(v.Nodes) == 0 && time.Now().Before(deadline) {
		select {
		case <-r.ctx().Done():
			return v
		case <-time.After(50 * time.Millisecond):
		}
		if nv, err := r.api.Tenant(r.ctx(), v.Name); err == nil {
			v = nv
		}
	}
	return v
}

// listenerState is which listeners a spec turns on, as far as it says.
type listenerState int

// The listenerStates.
const (
	listenersOn   listenerState = iota // at least one
	listenersNone                      // every one is off
	listenersTLS                       // only MQTTS or WSS, on the nodes that have a certificate
)

// listenersOf tells whether s turns a listener on: an unset MQTT or WS
// port means auto; an unset MQTTS or WSS port is on only where there is
// TLS material, the tenant's own or else the node's (which the client
// cannot see).
func listenersOf(s tenant.Spec) listenerState {
	l := s.Listeners
	if l.MQTT != tenant.PortOff || l.WS != tenant.PortOff {
		return listenersOn
	}
	secure := []tenant.Port{l.MQTTS, l.WSS}
	switch {
	case !slices.ContainsFunc(secure, func(p tenant.Port) bool { return p != tenant.PortOff }):
		return listenersNone
	case l.TLS != nil || slices.ContainsFunc(secure, func(p tenant.Port) bool { return p != "" && p != tenant.PortOff }):
		return listenersOn
	default:
		return listenersTLS
	}
}

// writeBound prints the addresses each node bound for v.
func writeBound(w io.Writer, v admin.TenantView) error {
	if len(v.Nodes) == 0 {
		var err error
		switch listenersOf(v.Spec) {
		case listenersNone:
			_, err = fmt.Fprintf(w, "every listener is off: no node serves it (turn one on with jmqx tenant update %s --mqtt-port auto)\n", v.Name)
		case listenersTLS:
			_, err = fmt.Fprintf(w, "MQTT and WebSocket are off: only nodes with a TLS certificate (jmqx serve --tls-cert) serve it, over MQTTS and WSS; see jmqx tenant show %s\n", v.Name)
		default:
			_, err = fmt.Fprintln(w, "no node has bound its listeners yet; see jmqx tenant show", v.Name)
		}
		return err
	}
	t := newTable(w, "NODE", "MQTT", "MQTTS", "WS", "WSS")
	for _, n := range v.Nodes {
		t.row(append([]string{n.Node}, listenerCells(n.Listeners)...)...)
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, n := range v.Nodes {
		if n.Error != "" {
			if _, err := fmt.Fprintf(w, "%s cannot serve it: %s\n", n.Node, n.Error); err != nil {
				return err
			}
		}
	}
	return nil
}

func runTenantList(r *clientRun) error {
	views, err := r.api.Tenants(r.ctx())
	if err != nil {
		return err
	}
	if views == nil {
		views = []admin.TenantView{}
	}
	return r.output(views, func(w io.Writer) error {
		t := newTable(w, "NAME", "NODE", "MQTT", "MQTTS", "WS", "WSS")
		for _, v := range views {
			if len(v.Nodes) == 0 {
				t.row(v.Name, "", "", "", "", "")
			}
			for _, n := range v.Nodes {
				t.row(append([]string{v.Name, n.Node}, listenerCells(n.Listeners)...)...)
			}
		}
		return t.flush()
	})
}

func runTenantShow(r *clientRun) error {
	v, err := r.api.Tenant(r.ctx(), r.args[0])
	if err != nil {
		return err
	}
	return r.output(v, func(w io.Writer) error {
		if err := writeSpecSummary(w, v.Spec); err != nil {
			return err
		}
		fmt.Fprintln(w)
		return writeBound(w, v)
	})
}

// writeSpecSummary prints the settings of s that people look for.
func writeSpecSummary(w io.Writer, s tenant.Spec) error {
	d := s.WithDefaults()
	t := newTable(w)
	t.row("name:", s.Name)
	l := d.Listeners
	port := func(p tenant.Port, def string) string {
		if p == "" {
			return def
		}
		return string(p)
	}
	tlsDefault := "auto if TLS material, else off"
	t.row("listeners:", fmt.Sprintf("mqtt %s, mqtts %s, ws %s, wss %s, ws path %s",
		port(l.MQTT, tenant.PortAuto), port(l.MQTTS, tlsDefault), port(l.WS, tenant.PortAuto), port(l.WSS, tlsDefault), l.WSPath))
	if tls := l.TLS; tls != nil {
		t.row("tls:", fmt.Sprintf("cert %s, key %s, ca %s, client auth %s", dash(tls.CertFile), dash(tls.KeyFile), dash(tls.CAFile), dash(tls.ClientAuth)))
	} else {
		t.row("tls:", "the node's")
	}
	t.row("anonymous:", yesNo(d.Auth.AllowAnonymous))
	t.row("users:", strconv.Itoa(len(d.Auth.Users)))
	if len(d.Auth.CertificateCNs) > 0 {
		t.row("certificate CNs:", strings.Join(d.Auth.CertificateCNs, ", "))
	}
	t.row("acl:", fmt.Sprintf("%d rules, default %s", len(d.ACL.Rules), d.ACL.Default))
	limits := changedLimits(s.Limits)
	if len(limits) == 0 {
		limits = []string{"defaults"}
	}
	t.row("limits:", strings.Join(limits, ", "))
	return t.flush()
}

// changedLimits returns "name=value" for each field of l that differs
// from its default.
func changedLimits(l tenant.Limits) []string {
	got := reflect.ValueOf(tenant.Spec{Limits: l}.WithDefaults().Limits)
	def := reflect.ValueOf(tenant.Spec{}.WithDefaults().Limits)
	var out []string
	for i := range got.NumField() {
		if reflect.DeepEqual(got.Field(i).Interface(), def.Field(i).Interface()) {
			continue
		}
		name, _, _ := strings.Cut(got.Type().Field(i).Tag.Get("json"), ",")
		out = append(out, name+"="+formatLimit(got.Field(i)))
	}
	return out
}

// formatLimit returns a Limits field's value as people read it.
func formatLimit(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Pointer:
		return formatLimit(v.Elem())
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = formatLimit(v.Index(i))
		}
		return strings.Join(parts, ",")
	case reflect.Int, reflect.Int64, reflect.Float64:
		if v.CanInt() && v.Int() < 0 || v.CanFloat() && v.Float() < 0 {
			return "unlimited"
		}
	}
	return fmt.Sprint(v.Interface())
}

func runTenantDelete(r *clientRun) error {
	if err := r.api.DeleteTenant(r.ctx(), r.args[0]); err != nil {
		return err
	}
	if r.json {
		return nil
	}
	_, err := fmt.Fprintf(r.stdout(), "tenant %s deleted\n", r.args[0])
	return err
}

func runTenantStatus(r *clientRun) error {
	st, err := r.api.TenantStatus(r.ctx(), r.args[0])
	if err != nil {
		return err
	}
	if st == nil {
		st = []admin.NodeStatus{}
	}
	return r.output(st, func(w io.Writer) error {
		t := newTable(w, "NODE", "CONNECTIONS", "SESSIONS", "SUBSCRIPTIONS", "RETAINED", "IN/S", "OUT/S", "DROPPED", "REFUSALS")
		var failed []admin.NodeStatus
		for _, s := range st {
			if s.Error != "" {
				t.row(s.Node, "?", "?", "?", "?", "?", "?", "?", "?")
				failed = append(failed, s)
				continue
			}
			t.row(s.Node, strconv.FormatInt(s.Connections, 10), strconv.Itoa(s.Sessions), strconv.Itoa(s.Subscriptions),
				strconv.Itoa(s.Retained), formatRate(s.MessagesInRate), formatRate(s.MessagesOutRate),
				strconv.FormatInt(s.Dropped, 10), formatCounts(s.Refusals))
		}
		if err := t.flush(); err != nil {
			return err
		}
		for _, s := range failed {
			fmt.Fprintf(w, "%s: %s\n", s.Node, s.Error)
		}
		return printForwarding(w, st)
	})
}

// printForwarding prints, when any node forwards, each node's forwarding
// with each peer: one row per node and peer.
func printForwarding(w io.Writer, st []admin.NodeStatus) error {
	rows := 0
	for _, s := range st {
		rows += len(s.Peers)
	}
	if rows == 0 {
		return nil
	}
	fmt.Fprintln(w)
	t := newTable(w, "NODE", "PEER", "ROUTES", "FWD OUT", "FWD IN", "AWAITING ACK", "DROPPED", "ACK TIMEOUTS", "DUPLICATES")
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, s := range st {
		peers := slices.Sorted(maps.Keys(s.Peers))
		for _, peer := range peers {
			p := s.Peers[peer]
			t.row(s.Node, peer, strconv.Itoa(p.Routes), i64(p.ForwardedOut), i64(p.ForwardedIn), i64(p.AwaitingAck),
				i64(p.Dropped), i64(p.AckTimeouts), i64(p.Duplicates))
		}
	}
	return t.flush()
}

// applyResult is one tenant of tenant apply --json --dry-run.
type applyResult struct {
	Name string `json:"name"`
	// Action is "create", "update" or "none".
	Action  string   `json:"action"`
	Changes []string `json:"changes"`
}

func runTenantApply(r *clientRun) error {
	file := r.c.String("file")
	if file == "" {
		return r.usage("-f FILE is required")
	}
	specs, err := readSpecs(r, file)
	if err != nil {
		return err
	}
	var results []applyResult
	var views []admin.TenantView
	for _, desired := range specs {
		res := applyResult{Name: desired.Name, Action: "update", Changes: []string{}}
		cur, err := r.api.Tenant(r.ctx(), desired.Name)
		switch {
		case isNotFound(err):
			res.Action = "create"
		case err != nil:
			return err
		default:
			res.Changes = diffSpecs(cur.Spec, desired)
			if len(res.Changes) == 0 {
				res.Action = "none"
			}
		}
		results = append(results, res)
		if r.c.Bool("dry-run") {
			continue
		}
		v := cur
		switch res.Action {
		case "create": // fails if it was created meanwhile with another spec
			v, err = r.api.CreateTenant(r.ctx(), desired)
		case "update": // fails if it changed since the diff was made
			v, err = r.api.UpdateTenant(r.ctx(), desired, cur.Revision)
		}
		if err != nil {
			if errors.Is(err, admin.ErrChanged) {
				return fmt.Errorf("tenant %q changed while apply ran; run it again to see the new diff: %w", desired.Name, err)
			}
			return fmt.Errorf("tenant %q: %w", desired.Name, err)
		}
		views = append(views, v)
		if !r.json {
			verb := map[string]string{"create": "created", "update": "updated", "none": "unchanged"}[res.Action]
			fmt.Fprintf(r.stdout(), "tenant %s %s\n", desired.Name, verb)
		}
	}
	switch {
	case r.c.Bool("dry-run") && r.json:
		return writeJSON(r.stdout(), results)
	case r.c.Bool("dry-run"):
		w := r.stdout()
		for _, res := range results {
			switch res.Action {
			case "create":
				fmt.Fprintf(w, "create tenant %s\n", res.Name)
			case "none":
				fmt.Fprintf(w, "tenant %s: no changes\n", res.Name)
			default:
				fmt.Fprintf(w, "update tenant %s:\n", res.Name)
				for _, c := range res.Changes {
					fmt.Fprintln(w, c)
				}
			}
		}
		return nil
	case r.json:
		return writeJSON(r.stdout(), views)
	}
	return nil
}

// readSpecs reads and checks the specs of tenant apply's file.
func readSpecs(r *clientRun, file string) ([]tenant.Spec, error) {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(r.stdin())
		file = "standard input"
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, err
	}
	specs, err := parseSpecs(data, strings.ToLower(filepath.Ext(file)) == ".json")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("%s: no tenant spec", file)
	}
	seen := map[string]bool{}
	var errs []error
	for i, s := range specs {
		if err := s.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: spec %d (%q): %w", file, i+1, s.Name, err))
		}
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("%s: tenant %q given twice", file, s.Name))
		}
		seen[s.Name] = true
	}
	return specs, errors.Join(errs...)
}

// parseSpecs reads one spec, a list of specs, or YAML documents of either.
// JSON is read as JSON (by its extension or first character), anything
// else as YAML; both refuse unknown fields.
func parseSpecs(data []byte, isJSON bool) ([]tenant.Spec, error) {
	trimmed := bytes.TrimSpace(data)
	if isJSON || bytes.HasPrefix(trimmed, []byte("{")) || bytes.HasPrefix(trimmed, []byte("[")) {
		return decodeSpecs(trimmed)
	}
	var specs []tenant.Spec
	for i, doc := range splitYAML(data) {
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("YAML document %d: %w", i+1, err)
		}
		s, err := decodeSpecs(j)
		if err != nil {
			return nil, fmt.Errorf("YAML document %d: %w", i+1, err)
		}
		specs = append(specs, s...)
	}
	return specs, nil
}

// splitYAML splits data into its YAML documents at "---" lines.
func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	var cur []byte
	for line := range bytes.Lines(data) {
		if t := bytes.TrimRight(line, " \t\r\n"); bytes.Equal(t, []byte("---")) || bytes.HasPrefix(t, []byte("--- ")) {
			docs = append(docs, cur)
			cur = nil
			continue
		}
		cur = append(cur, line...)
	}
	return append(docs, cur)
}

// decodeSpecs decodes a JSON spec or list of specs; null is none.
func decodeSpecs(j []byte) ([]tenant.Spec, error) {
	j = bytes.TrimSpace(j)
	if len(j) == 0 || string(j) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	var specs []tenant.Spec
	if j[0] == '[' {
		if err := dec.Decode(&specs); err != nil {
			return nil, err
		}
	} else {
		var s tenant.Spec
		if err := dec.Decode(&s); err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value: give a list of specs")
	}
	return specs, nil
}

// diffSpecs returns the changes from cur to desired, one line each:
// "~ path: old -> new", "+ path: new" or "- path: old". Both specs are
// compared with their defaults filled in, so an unset limit equals its
// default. Users are named by name and never show their hashes.
func diffSpecs(cur, desired tenant.Spec) []string {
	a, b := flattenSpec(cur), flattenSpec(desired)
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(x, y string) int { return strings.Compare(sortKey(x), sortKey(y)) })
	var out []string
	for _, k := range keys {
		old, inA := a[k]
		val, inB := b[k]
		isUser := strings.HasPrefix(k, "auth.users[")
		switch {
		case !inA && isUser:
			out = append(out, "+ "+k)
		case !inB && isUser:
			out = append(out, "- "+k)
		case !inA:
			out = append(out, "+ "+k+": "+val)
		case !inB:
			out = append(out, "- "+k+": "+old)
		case old == val:
		case isUser:
			out = append(out, "~ "+k+": password hashes changed")
		default:
			out = append(out, "~ "+k+": "+old+" -> "+val)
		}
	}
	return out
}

// sortKey pads the numbers in brackets so that acl.rules[10] sorts after
// acl.rules[9].
func sortKey(k string) string {
	before, rest, ok := strings.Cut(k, "[")
	if !ok {
		return k
	}
	idx, after, _ := strings.Cut(rest, "]")
	if n, err := strconv.Atoi(idx); err == nil {
		idx = fmt.Sprintf("%010d", n)
	}
	return before + "[" + idx + "]" + after
}

// flattenSpec returns s, defaults filled in, as "path" -> value in JSON:
// "limits.max_connections" -> "10000", "acl.rules[0]" -> `allow all "a/#"`,
// "auth.users[bob]" -> its hashes.
func flattenSpec(s tenant.Spec) map[string]string {
	d := s.WithDefaults()
	out := map[string]string{}
	for _, u := range d.Auth.Users {
		out["auth.users["+u.Name+"]"] = strings.Join(u.PasswordHashes, " ")
	}
	for i, rule := range d.ACL.Rules {
		out["acl.rules["+strconv.Itoa(i)+"]"] = formatRule(rule)
	}
	d.Auth.Users, d.ACL.Rules = nil, nil
	j, err := json.Marshal(d)
	if err != nil {
		panic(fmt.Sprintf("tenant spec does not marshal: %v", err)) // plain data always does
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		panic(fmt.Sprintf("tenant spec does not unmarshal: %v", err))
	}
	flattenJSON("", m, out)
	return out
}

// flattenJSON adds the leaves of v to out, keyed by their dotted paths;
// lists are leaves.
func flattenJSON(path string, v any, out map[string]string) {
	if m, ok := v.(map[string]any); ok {
		for k, e := range m {
			p := k
			if path != "" {
				p = path + "." + k
			}
			flattenJSON(p, e, out)
		}
		return
	}
	j, _ := json.Marshal(v)
	out[path] = string(j)
}

// formatRule returns rule as one line: allow publish "a/#" user=bob.
func formatRule(rule tenant.Rule) string {
	access := rule.Access
	if access == "" {
		access = tenant.AccessAll
	}
	s := fmt.Sprintf("%s %s %q", rule.Action, access, rule.Topic)
	if rule.User != "" {
		s += fmt.Sprintf(" user=%q", rule.User)
	}
	return s
}

// isNotFound reports whether err is the admin API's 404.
func isNotFound(err error) bool { return errors.Is(err, admin.ErrNotFound) }
