package main

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/jmqx/jmqx/tenant"
)

func TestACLAddListRemove(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin(tenant.Spec{Name: "a"})
	mustRun(t, f, "", "acl", "add", "a", "--action", "allow", "--access", "publish", "--topic", "sensors/%u/#")
	r := mustRun(t, f, "", "acl", "add", "a", "--action", "deny", "--topic", "#", "--user", "guest", "--position", "0")
	want := []tenant.Rule{
		{Action: "deny", Access: "all", Topic: "#", User: "guest"},
		{Action: "allow", Access: "publish", Topic: "sensors/%u/#"},
	}
	if got := f.spec(t, "a").ACL.Rules; !reflect.DeepEqual(got, want) {
		t.Errorf("rules = %+v, want %+v", got, want)
	}
	if !slices.Equal(f.writes, []string{"AddRule@-1 a", "AddRule@0 a"}) {
		t.Errorf("calls %v", f.writes)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "# ACTION ACCESS TOPIC USER" ||
		strings.Join(strings.Fields(lines[1]), " ") != "0 deny all # guest" ||
		strings.Join(strings.Fields(lines[2]), " ") != "1 allow publish sensors/%u/# -" ||
		!strings.Contains(lines[3], "allow") || !strings.Contains(lines[3], "default") {
		t.Errorf("acl add printed:\n%s", r.stdout)
	}

	r = mustRun(t, f, "", "acl", "list", "a", "--json")
	var acl aclJSON
	checkJSON(t, r.stdout, &acl)
	if acl.Default != "allow" || !reflect.DeepEqual(acl.Rules, want) {
		t.Errorf("acl list --json = %+v", acl)
	}

	mustRun(t, f, "", "acl", "remove", "a", "0")
	if got := f.spec(t, "a").ACL.Rules; !reflect.DeepEqual(got, want[1:]) {
		t.Errorf("rules after remove = %+v", got)
	}
	mustFail(t, f, "", "rule 5 not found", "acl", "remove", "a", "5")
}

func TestACLDefault(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin(tenant.Spec{Name: "a", ACL: tenant.ACL{Rules: []tenant.Rule{{Action: "allow", Topic: "x"}}}})
	r := mustRun(t, f, "", "acl", "default", "a", "deny")
	if acl := f.spec(t, "a").ACL; acl.Default != "deny" || len(acl.Rules) != 1 {
		t.Errorf("ACL = %+v", acl)
	}
	if !strings.Contains(r.stdout, "deny") {
		t.Errorf("acl default printed:\n%s", r.stdout)
	}
	mustFail(t, f, "", `acl default: POLICY "maybe"`, "acl", "default", "a", "maybe")
	r = mustRun(t, newFakeAdmin(tenant.Spec{Name: "e"}), "", "acl", "list", "e", "--json")
	if r.stdout != "{\n  \"default\": \"allow\",\n  \"rules\": []\n}\n" {
		t.Errorf("empty acl list --json = %q", r.stdout)
	}
}

func TestACLAddRefusesBadRules(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin(tenant.Spec{Name: "a"})
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--topic", "x"}, `--action "": want allow or deny`},
		{[]string{"--action", "permit", "--topic", "x"}, `--action "permit"`},
		{[]string{"--action", "allow", "--access", "read", "--topic", "x"}, `--access "read"`},
		{[]string{"--action", "allow"}, "--topic is required"},
		{[]string{"--action", "allow", "--topic", "x", "--position", "-2"}, "--position -2"},
	} {
		mustFail(t, f, "", "acl add: "+tt.want, append([]string{"acl", "add", "a"}, tt.args...)...)
	}
	if len(f.writes) != 0 {
		t.Errorf("wrote %v", f.writes)
	}
}
