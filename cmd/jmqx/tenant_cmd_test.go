package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/jmqx/jmqx/admin"
	"github.com/jmqx/jmqx/tenant"
)

func ptr[T any](v T) *T { return &v }

// testHash is a valid bcrypt hash (of "pw").
const testHash = "$2a$10$.VlKvyQMtE6Gf0F7Vsh/LexYWh98rQZKZ.yT1dYKyIbpFqNLlPYni"

func TestTenantCreate(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin()
	r := mustRun(t, f, "", "tenant", "create", "plant1",
		"--mqtt-port", "1884", "--mqtts-port", "off", "--ws-port", "AUTO", "--ws-path", "/ws",
		"--allow-anonymous", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-client-auth", "none",
		"--max-connections", "500", "--max-connects-per-second", "2.5", "--protocol-versions", "4,5",
		"--retain=false", "--max-session-expiry", "60", "--certificate-cn", "dev,ops")
	want := tenant.Spec{
		Name: "plant1",
		Listeners: tenant.Listeners{
			MQTT: "1884", MQTTS: tenant.PortOff, WS: tenant.PortAuto, WSPath: "/ws",
			TLS: &tenant.TLS{CertFile: "c.pem", KeyFile: "k.pem", ClientAuth: "none"},
		},
		Auth: tenant.Auth{AllowAnonymous: true, CertificateCNs: []string{"dev", "ops"}},
		Limits: tenant.Limits{
			MaxConnections: 500, MaxConnectsPerSecond: 2.5, ProtocolVersions: []int{4, 5},
			Retain: ptr(false), MaxSessionExpiry: 60,
		},
	}
	if got := f.spec(t, "plant1"); !reflect.DeepEqual(got, want) {
		t.Errorf("created spec\n%+v\nwant\n%+v", got, want)
	}
	for _, s := range []string{"tenant plant1 created", "NODE", "node-1", "10.0.0.1:1883", "10.0.0.2:8083"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("output lacks %q:\n%s", s, r.stdout)
		}
	}
}

func TestTenantCreateJSON(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin()
	r := mustRun(t, f, "", "tenant", "create", "--json", "a", "--max-qos", "1")
	var m map[string]any
	checkJSON(t, r.stdout, &m)
	if m["name"] != "a" || m["spec"].(map[string]any)["limits"].(map[string]any)["max_qos"] != 1.0 {
		t.Errorf("JSON = %v", m)
	}
	nodes := m["nodes"].([]any)
	if len(nodes) != 2 || nodes[0].(map[string]any)["listeners"].(map[string]any)["mqtt"] != "10.0.0.1:1883" {
		t.Errorf("JSON nodes = %v", nodes)
	}
}

func TestTenantCreateRefusesBadSpec(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin(tenant.Spec{Name: "a"})
	mustFail(t, f, "", "max_qos", "tenant", "create", "b", "--max-qos", "7")
	mustFail(t, f, "", "Bad", "tenant", "create", "Bad")
	mustFail(t, f, "", `tenant "a" already exists`, "tenant", "create", "a")
	if len(f.writes) != 0 {
		t.Errorf("wrote %v", f.writes)
	}
}

// limitFlagValue returns a valid non-default value for the flag of a
// Limits field.
func limitFlagValue(f reflect.StructField) string {
	switch k := f.Type.Kind(); {
	case k == reflect.Slice:
		return "4,5"
	case k == reflect.Pointer:
		return "false"
	case f.Name == "ClusterAck":
		return "local"
	case f.Name == "Persistence":
		return "sync"
	case f.Name == "MaxQoS":
		return "1"
	case f.Name == "MaxMemory":
		return "2097152" // at least 1 MiB
	default:
		return "100"
	}
}

// Every field of tenant.Limits has a documented flag, and the flag sets it.
func TestTenantLimitFlagsCoverLimits(t *testing.T) {
	t.Parallel()
	flags := specFlags()
	lt := reflect.TypeFor[tenant.Limits]()
	args := []string{"tenant", "create", "a"}
	for i := range lt.NumField() {
		field := lt.Field(i)
		tag, _, _ := strings.Cut(field.Tag.Get("json"), ",")
		name := strings.ReplaceAll(tag, "_", "-")
		fl := findFlag(flags, name)
		if fl == nil {
			t.Errorf("Limits.%s has no flag --%s", field.Name, name)
			continue
		}
		if _, ok := limitHelp[tag]; !ok {
			t.Errorf("limitHelp lacks %s", tag)
		}
		if df := fl.(cli.DocGenerationFlag); df.GetUsage() == "" || df.GetDefaultText() == "" {
			t.Errorf("--%s has no usage or default text", name)
		}
		args = append(args, "--"+name+"="+limitFlagValue(field))
	}
	f := newFakeAdmin()
	mustRun(t, f, "", args...)
	got := reflect.ValueOf(f.spec(t, "a").Limits)
	for i := range lt.NumField() {
		if got.Field(i).IsZero() {
			t.Errorf("Limits.%s was not set by its flag", lt.Field(i).Name)
		}
	}
	if l := f.spec(t, "a").Limits; *l.Retain || *l.SharedSubscriptions || l.MaxConnections != 100 || l.MaxRetainedBytes != 100 {
		t.Errorf("limits = %+v", l)
	}
	if len(limitHelp) != lt.NumField() {
		t.Errorf("limitHelp has %d entries for %d Limits fields", len(limitHelp), lt.NumField())
	}
}

func TestTenantUpdateChangesOnlyGivenFlags(t *testing.T) {
	t.Parallel()
	before := tenant.Spec{
		Name:      "a",
		Listeners: tenant.Listeners{MQTT: "1883", WS: tenant.PortOff, TLS: &tenant.TLS{CertFile: "c", KeyFile: "k"}},
		Auth:      tenant.Auth{AllowAnonymous: true, Users: []tenant.User{{Name: "bob", PasswordHashes: []string{testHash}}}},
		ACL:       tenant.ACL{Default: tenant.Deny, Rules: []tenant.Rule{{Action: tenant.Allow, Topic: "a/#"}}},
		Limits:    tenant.Limits{MaxConnections: 10, MaxInflight: 20, Retain: ptr(false), ProtocolVersions: []int{5}},
	}
	f := newFakeAdmin(before)
	r := mustRun(t, f, "", "tenant", "update", "a", "--max-connections", "500", "--wildcard-subscriptions=false", "--mqtt-port", "auto")
	want := before.Clone()
	want.Limits.MaxConnections = 500
	want.Limits.WildcardSubscriptions = ptr(false)
	want.Listeners.MQTT = tenant.PortAuto
	if got := f.spec(t, "a"); !reflect.DeepEqual(got, want) {
		t.Errorf("updated spec\n%+v\nwant\n%+v", got, want)
	}
	if !strings.Contains(r.stdout, "tenant a updated") {
		t.Errorf("output:\n%s", r.stdout)
	}

	// Turning things off, and the TLS material back to the node's.
	mustRun(t, f, "", "tenant", "update", "a", "--allow-anonymous=false", "--tls-cert", "", "--tls-key", "", "--protocol-versions", "")
	got := f.spec(t, "a")
	if got.Auth.AllowAnonymous || got.Listeners.TLS != nil || got.Limits.ProtocolVersions != nil || got.Limits.MaxInflight != 20 {
		t.Errorf("after the second update: %+v", got)
	}
	mustFail(t, f, "", `tenant "b" not found`, "tenant", "update", "b", "--max-connections", "1")
}

func TestTenantList(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin(tenant.Spec{Name: "a"}, tenant.Spec{Name: "b"})
	r := mustRun(t, f, "", "tenant", "list")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 5 || strings.Join(strings.Fields(lines[0]), " ") != "NAME NODE MQTT MQTTS WS WSS" {
		t.Fatalf("list:\n%s", r.stdout)
	}
	if got := strings.Join(strings.Fields(lines[4]), " "); got != "b node-2 10.0.0.2:1883 - 10.0.0.2:8083 -" {
		t.Errorf("last line %q", got)
	}

	r = mustRun(t, f, "", "tenant", "list", "--json")
	var views []admin.TenantView
	checkJSON(t, r.stdout, &views)
	if len(views) != 2 || views[1].Name != "b" || len(views[1].Nodes) != 2 {
		t.Errorf("JSON list = %+v", views)
	}

	r = mustRun(t, newFakeAdmin(), "", "tenant", "list", "--json")
	if r.stdout != "[]\n" {
		t.Errorf("empty JSON list = %q, want []", r.stdout)
	}
}

func TestTenantShow(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin(tenant.Spec{
		Name:   "a",
		Auth:   tenant.Auth{Users: []tenant.User{{Name: "u", PasswordHashes: []string{"h"}}}},
		ACL:    tenant.ACL{Rules: []tenant.Rule{{Action: tenant.Deny, Topic: "x"}}},
		Limits: tenant.Limits{MaxConnections: 5, MaxPacketSize: tenant.DefaultMaxPacketSize, MaxBytesPerSecond: -1, Retain: ptr(false)},
	})
	r := mustRun(t, f, "", "tenant", "show", "a")
	for _, s := range []string{"name:", "mqtt auto", "anonymous:", "no", "users:", "1", "1 rules, default allow",
		"max_connections=5", "max_bytes_per_second=unlimited", "retain=false", "10.0.0.2:1883"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("show lacks %q:\n%s", s, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "max_packet_size") {
		t.Errorf("show lists a limit at its default:\n%s", r.stdout)
	}

	r = mustRun(t, f, "", "tenant", "--json", "show", "a")
	var m map[string]any
	checkJSON(t, r.stdout, &m)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
	if !slices.Equal(keys, []string{"name", "nodes", "revision", "spec"}) {
		t.Errorf("show --json keys = %v", keys)
	}
}

func TestTenantDelete(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin(tenant.Spec{Name: "a"})
	r := mustRun(t, f, "", "tenant", "delete", "a")
	if !strings.Contains(r.stdout, "tenant a deleted") || !slices.Equal(f.writes, []string{"DeleteTenant a"}) {
		t.Errorf("delete printed %q, wrote %v", r.stdout, f.writes)
	}
	mustFail(t, f, "", `tenant "a" not found`, "tenant", "delete", "a")
}

func TestTenantStatus(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin(tenant.Spec{Name: "a"})
	f.status = []admin.NodeStatus{
		{Node: "node-1", Connections: 12, Sessions: 3, Subscriptions: 4, Retained: 5, MessagesInRate: 1.25, MessagesOutRate: 2, Dropped: 6,
			Refusals: map[string]int64{"quota": 2, "auth": 1}},
		{Node: "node-2", Error: "timeout"},
	}
	r := mustRun(t, f, "", "tenant", "status", "a")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if got := strings.Join(strings.Fields(lines[1]), " "); got != "node-1 12 3 4 5 1.2 2.0 6 auth=1,quota=2" {
		t.Errorf("status line %q\n%s", got, r.stdout)
	}
	if !strings.Contains(r.stdout, "node-2: timeout") {
		t.Errorf("status lacks the node error:\n%s", r.stdout)
	}
	r = mustRun(t, f, "", "tenant", "status", "a", "--json")
	var st []map[string]any
	checkJSON(t, r.stdout, &st)
	if len(st) != 2 || st[0]["node"] != "node-1" || st[0]["connections"] != 12.0 || st[1]["error"] != "timeout" {
		t.Errorf("status JSON = %v", st)
	}
}

const applyYAML = `# two tenants
name: a
limits:
  max_connections: 500
auth:
  users:
    - name: bob
      password_hashes: ["$2a$10$.VlKvyQMtE6Gf0F7Vsh/LexYWh98rQZKZ.yT1dYKyIbpFqNLlPYni"]
---
name: b
listeners:
  mqtt: 1884
`

func TestTenantApplyYAML(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin(tenant.Spec{Name: "a", ACL: tenant.ACL{Rules: []tenant.Rule{{Action: tenant.Deny, Topic: "x/#"}}}})
	file := filepath.Join(t.TempDir(), "tenants.yaml")
	if err := os.WriteFile(file, []byte(applyYAML), 0o600); err != nil {
		t.Fatal(err)
	}

	r := mustRun(t, f, "", "tenant", "apply", "-f", file, "--dry-run")
	want := "update tenant a:\n" +
		`- acl.rules[0]: deny all "x/#"` + "\n" +
		"+ auth.users[bob]\n" +
		"~ limits.max_connections: 10000 -> 500\n" +
		"create tenant b\n"
	if r.stdout != want {
		t.Errorf("dry run:\n%s\nwant:\n%s", r.stdout, want)
	}
	if len(f.writes) != 0 {
		t.Fatalf("dry run wrote %v", f.writes)
	}

	r = mustRun(t, f, "", "tenant", "apply", "-f", file)
	if r.stdout != "tenant a updated\ntenant b created\n" {
		t.Errorf("apply printed:\n%s", r.stdout)
	}
	if b := f.spec(t, "b"); b.Listeners.MQTT != "1884" {
		t.Errorf("tenant b = %+v", b)
	}
	if a := f.spec(t, "a"); a.Limits.MaxConnections != 500 || len(a.Auth.Users) != 1 || len(a.ACL.Rules) != 0 {
		t.Errorf("tenant a = %+v", a)
	}

	f.writes = nil
	r = mustRun(t, f, "", "tenant", "apply", "--dry-run", "-f", file)
	if r.stdout != "tenant a: no changes\ntenant b: no changes\n" {
		t.Errorf("dry run after apply:\n%s", r.stdout)
	}
	r = mustRun(t, f, "", "tenant", "apply", "-f", file, "--json")
	var views []admin.TenantView
	checkJSON(t, r.stdout, &views)
	if len(views) != 2 || len(f.writes) != 0 {
		t.Errorf("unchanged apply: views %+v, wrote %v", views, f.writes)
	}
}

func TestTenantApplyJSONList(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin(tenant.Spec{Name: "a", Limits: tenant.Limits{MaxConnections: 10000}})
	file := filepath.Join(t.TempDir(), "t.json")
	spec := "[\n\t{\"name\": \"a\", \"limits\": {\"max_connections\": 10000, \"retain\": false}},\n\t{\"name\": \"c\"}\n]\n"
	if err := os.WriteFile(file, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, f, "", "tenant", "apply", "-f", file, "--dry-run", "--json")
	var res []applyResult
	checkJSON(t, r.stdout, &res)
	want := []applyResult{
		{Name: "a", Action: "update", Changes: []string{"~ limits.retain: true -> false"}},
		{Name: "c", Action: "create", Changes: []string{}},
	}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("dry run JSON = %+v, want %+v", res, want)
	}
	mustRun(t, f, "", "tenant", "apply", "-f", file)
	if !slices.Equal(f.writes, []string{"PutTenant a", "CreateTenant c"}) {
		t.Errorf("wrote %v", f.writes)
	}
}

func TestTenantApplyStdin(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin()
	r := mustRun(t, f, `{"name": "s", "acl": {"default": "deny"}}`, "tenant", "apply", "-f", "-")
	if r.stdout != "tenant s created\n" || f.spec(t, "s").ACL.Default != tenant.Deny {
		t.Errorf("apply from stdin printed %q, stored %+v", r.stdout, f.specs)
	}
	mustRun(t, f, "- name: s\n  acl: {default: deny}\n- name: t\n", "tenant", "apply", "-f", "-")
	if _, ok := f.specs["t"]; !ok {
		t.Error("YAML list from stdin: tenant t not created")
	}
}

func TestTenantApplyRefusesBadFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i, tt := range []struct{ content, want string }{
		{"name: a\nlimits: {max_conections: 5}\n", `unknown field "max_conections"`},
		{"name: a\n---\nname: B\n", `spec 2 ("B")`},
		{"name: a\n---\nname: a\n", `tenant "a" given twice`},
		{"{\"name\": \"a\"", "unexpected EOF"},
		{"# nothing\n", "no tenant spec"},
		{"name: [a\n", "YAML document 1"},
	} {
		file := filepath.Join(dir, fmt.Sprintf("%d.yaml", i))
		if err := os.WriteFile(file, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		f := newFakeAdmin()
		mustFail(t, f, "", tt.want, "tenant", "apply", "-f", file)
		if len(f.writes) != 0 {
			t.Errorf("%q: wrote %v", tt.content, f.writes)
		}
	}
	mustFail(t, newFakeAdmin(), "", "tenant apply: -f FILE is required", "tenant", "apply")
	mustFail(t, newFakeAdmin(), "", "no such file", "tenant", "apply", "-f", filepath.Join(dir, "missing.yaml"))
}

func TestDiffSpecs(t *testing.T) {
	t.Parallel()
	cur := tenant.Spec{
		Name:      "a",
		Listeners: tenant.Listeners{MQTT: "1883", TLS: &tenant.TLS{CertFile: "c", KeyFile: "k"}},
		Auth:      tenant.Auth{Users: []tenant.User{{Name: "bob", PasswordHashes: []string{"h1"}}, {Name: "eve", PasswordHashes: []string{"h"}}}},
		ACL:       tenant.ACL{Rules: make([]tenant.Rule, 11)},
	}
	for i := range cur.ACL.Rules {
		cur.ACL.Rules[i] = tenant.Rule{Action: tenant.Allow, Topic: fmt.Sprint(i)}
	}
	desired := cur.Clone()
	desired.Listeners.MQTT = tenant.PortAuto
	desired.Listeners.TLS = nil
	desired.Auth.Users = []tenant.User{{Name: "bob", PasswordHashes: []string{"h2"}}}
	desired.ACL.Rules[10].User = "bob"
	desired.ACL.Rules[9].Access = tenant.AccessPublish
	desired.Limits.MaxConnections = tenant.DefaultMaxConnections // explicit default: no change
	got := diffSpecs(cur, desired)
	want := []string{
		`~ acl.rules[9]: allow all "9" -> allow publish "9"`,
		`~ acl.rules[10]: allow all "10" -> allow all "10" user="bob"`,
		"~ auth.users[bob]: password hashes changed",
		"- auth.users[eve]",
		`~ listeners.mqtt: 1883 -> "auto"`,
		`- listeners.tls.cert_file: "c"`,
		`- listeners.tls.key_file: "k"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("diff:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d := diffSpecs(cur, cur.Clone()); len(d) != 0 {
		t.Errorf("diff of equal specs = %v", d)
	}
}

// tenant update reads again when the tenant changed between its read and
// its write, so that a concurrent update of another field is kept.
func TestTenantUpdateKeepsAConcurrentChange(t *testing.T) {
	f := newFakeAdmin(tenant.Spec{Name: "a"})
	f.changeBefore = func(s *tenant.Spec) { s.Limits.MaxInflight = 7 } // another operator
	res := runClient(t, f, "", "tenant", "update", "a", "--max-connections", "5")
	if res.err != nil {
		t.Fatalf("tenant update: %v", res.err)
	}
	got := f.spec(t, "a").Limits
	if got.MaxConnections != 5 || got.MaxInflight != 7 {
		t.Fatalf("limits %+v: want both max_connections 5 (ours) and max_inflight 7 (theirs)", got)
	}
}
