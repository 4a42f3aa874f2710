package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// rule constrains what the packages matching pkg may depend on, directly or
// through other packages (go list's Deps, test files excluded).
//
// Patterns are import paths relative to the module ("broker", "tenant/...")
// unless their first element contains a dot ("github.com/hashicorp/raft/...").
// "x/..." matches x and every package below it; "..." matches everything.
// A rule whose pkg matches no package yet is skipped, so rules for packages
// still to be written can go in the table now.
type rule struct {
	pkg        string   // the packages the rule constrains
	except     []string // packages exempt from the rule
	onlyStdlib bool     // may depend only on the standard library (and pkg's own subtree)
	forbid     []string // may not depend on these
	why        string   // shown when the rule is broken
}

// rules are DESIGN.md's arrows ("nothing points back up") as import
// restrictions. Add a line when a package or an arrow appears.
var rules = []rule{
	{
		pkg:        "internal/packet/...",
		onlyStdlib: true,
		why:        "the MQTT codec knows nothing of sockets or sessions and imports only the standard library",
	},
	{
		pkg:        "internal/topicpattern/...",
		onlyStdlib: true,
		why:        "access-rule topic matching is shared by aclfile and tenant and imports only the standard library",
	},
	{
		pkg:        "internal/bytesize/...",
		onlyStdlib: true,
		why:        "reading byte counts is a leaf the CLI and tools share",
	},
	{
		pkg:        "internal/testwait/...",
		onlyStdlib: true,
		why:        "the tests' way of waiting is a leaf every package's tests may use",
	},
	{
		pkg:        "internal/topics/...",
		onlyStdlib: true,
		why:        "topic matching imports only the standard library",
	},
	{
		pkg: "broker/...",
		forbid: []string{
			"tenant/...", "meta/...", "cluster/...", "admin/...", "node/...", "listeners/...", "cmd/...", "store/...",
			"github.com/hashicorp/...", "github.com/gorilla/websocket/...", "go.etcd.io/bbolt/...",
		},
		why: "a broker is one MQTT instance: it knows nothing of tenants, Raft, gossip, the admin API, transports or databases; upper layers plug in through interfaces broker defines",
	},
	{
		pkg: "store/...",
		forbid: []string{
			"tenant/...", "meta/...", "cluster/...", "admin/...", "node/...", "listeners/...", "cmd/...",
			"github.com/hashicorp/...",
		},
		why: "store keeps a broker's sessions and retained messages in bbolt (broker.Store): it needs broker and bbolt, nothing above them",
	},
	{
		pkg:    "listeners/...",
		forbid: []string{"broker/...", "tenant/...", "meta/...", "cluster/...", "admin/...", "cmd/..."},
		why:    "listeners hand plain net.Conns to a callback and know nothing about MQTT",
	},
	{
		pkg:    "aclfile/...",
		forbid: []string{"listeners/...", "tenant/...", "meta/...", "cluster/...", "admin/...", "cmd/..."},
		why:    "aclfile is a broker hook over a file format; it needs nothing above broker",
	},
	{
		pkg: "tenant/...",
		forbid: []string{
			"meta/...", "cluster/...", "admin/...", "node/...", "cmd/...",
			"github.com/hashicorp/raft/...", "github.com/hashicorp/memberlist/...",
		},
		why: "tenants know nothing of Raft or gossip",
	},
	{
		pkg:    "meta/...",
		forbid: []string{"cluster/...", "admin/...", "node/...", "cmd/...", "github.com/hashicorp/memberlist/..."},
		why:    "the Raft control plane knows nothing of gossip or the admin API",
	},
	{
		pkg:    "cluster/...",
		forbid: []string{"meta/...", "admin/...", "cmd/...", "github.com/hashicorp/raft/..."},
		why:    "cluster gossips routes and plugs into broker; it knows nothing of Raft",
	},
	{
		pkg:    "admin/...",
		forbid: []string{"meta/...", "node/...", "cmd/...", "github.com/hashicorp/..."},
		why:    "the admin API talks to the node through its own Backend interface, and its client sits below the CLI",
	},
	{
		pkg:    "node/...",
		forbid: []string{"cmd/..."},
		why:    "the node assembly sits below the CLI",
	},
	{
		pkg:    "...",
		except: []string{"cmd/..."},
		forbid: []string{"cmd/..."},
		why:    "nothing imports the commands",
	},
}

// goPackage is the part of `go list -json` output the checks use.
type goPackage struct {
	ImportPath string
	Standard   bool
	Deps       []string
	Module     *struct{ Path string }
	Error      *struct{ Err string }
}

func TestImportDirections(t *testing.T) {
	t.Parallel()
	module, pkgs := listPackages(t)
	for _, r := range rules {
		if !slices.ContainsFunc(pkgs, func(p goPackage) bool { return matchPattern(r.pkg, p.ImportPath, module) }) {
			t.Logf("rule for %s: no such package yet", r.pkg)
		}
	}
	for _, v := range violations(module, pkgs, rules) {
		t.Error(v)
	}
}

// listPackages runs `go list -deps -json ./...` at the module root and
// returns the module path and every package it prints.
func listPackages(t *testing.T) (string, []goPackage) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Path}} {{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", errorWithStderr(err))
	}
	module, root, ok := strings.Cut(strings.TrimSpace(string(out)), " ")
	if !ok {
		t.Fatalf("go list -m printed %q", out)
	}
	cmd := exec.Command("go", "list", "-e", "-deps", "-json=ImportPath,Standard,Deps,Module,Error", "./...")
	cmd.Dir = root
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", errorWithStderr(err))
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		if p.Error != nil {
			t.Logf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p)
	}
	return module, pkgs
}

func errorWithStderr(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("%w: %s", err, ee.Stderr)
	}
	return err
}

// violations checks the module's own packages among pkgs against rules and
// describes each broken rule, one line per offending dependency.
func violations(module string, pkgs []goPackage, rules []rule) []string {
	standard := make(map[string]bool, len(pkgs))
	for _, p := range pkgs {
		standard[p.ImportPath] = p.Standard
	}
	var out []string
	for _, p := range pkgs {
		if p.Module == nil || p.Module.Path != module {
			continue
		}
		for _, r := range rules {
			if !matchPattern(r.pkg, p.ImportPath, module) || matchAny(r.except, p.ImportPath, module) {
				continue
			}
			for _, dep := range p.Deps {
				switch {
				case r.onlyStdlib && !standard[dep] && !matchPattern(r.pkg, dep, module):
					out = append(out, fmt.Sprintf("%s depends on %s, but may use only the standard library: %s",
						p.ImportPath, dep, r.why))
				case matchAny(r.forbid, dep, module):
					out = append(out, fmt.Sprintf("%s depends on %s: %s", p.ImportPath, dep, r.why))
				}
			}
		}
	}
	return out
}

func matchAny(patterns []string, path, module string) bool {
	return slices.ContainsFunc(patterns, func(pat string) bool { return matchPattern(pat, path, module) })
}

// matchPattern reports whether import path matches pattern (see rule).
func matchPattern(pattern, path, module string) bool {
	if pattern == "..." {
		return true
	}
	first, _, _ := strings.Cut(pattern, "/")
	if !strings.Contains(first, ".") {
		pattern = module + "/" + pattern
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

func TestMatchPattern(t *testing.T) {
	t.Parallel()
	const mod = "example.com/m"
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"broker", "example.com/m/broker", true},
		{"broker", "example.com/m/broker/packet", false},
		{"broker/...", "example.com/m/broker", true},
		{"broker/...", "example.com/m/broker/packet", true},
		{"broker/...", "example.com/m/brokerage", false},
		{"cmd/...", "example.com/m/cmd/jmqx", true},
		{"...", "fmt", true},
		{"github.com/hashicorp/...", "github.com/hashicorp/raft", true},
		{"github.com/hashicorp/raft/...", "github.com/hashicorp/raft-boltdb/v2", false},
		{"github.com/hashicorp/raft/...", "example.com/m/github.com/hashicorp/raft", false},
	}
	for _, tt := range tests {
		if got := matchPattern(tt.pattern, tt.path, mod); got != tt.want {
			t.Errorf("matchPattern(%q, %q) = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
}

// TestViolationsCatchBrokenArrows checks the checker on a made-up graph in
// which every rule is broken once.
func TestViolationsCatchBrokenArrows(t *testing.T) {
	t.Parallel()
	const mod = "github.com/jmqx/jmqx"
	own := &struct{ Path string }{mod}
	other := &struct{ Path string }{"github.com/other/x"}
	pkgs := []goPackage{
		{ImportPath: "fmt", Standard: true},
		{ImportPath: "github.com/other/x", Module: other},
		{ImportPath: mod + "/internal/packet", Module: own, Deps: []string{"fmt", "github.com/other/x"}},
		{ImportPath: mod + "/broker", Module: own, Deps: []string{"fmt", mod + "/internal/packet", mod + "/tenant"}},
		{ImportPath: mod + "/listeners", Module: own, Deps: []string{"fmt", mod + "/broker"}},
		{ImportPath: mod + "/tenant", Module: own, Deps: []string{mod + "/broker", mod + "/listeners"}},
		{ImportPath: mod + "/cmd/jmqx/internal/x", Module: own},
		{ImportPath: mod + "/cmd/jmqx", Module: own, Deps: []string{mod + "/cmd/jmqx/internal/x", mod + "/tenant"}},
		{ImportPath: mod + "/integration", Module: own, Deps: []string{mod + "/cmd/jmqx/internal/x"}},
	}
	got := violations(mod, pkgs, rules)
	want := []string{
		"internal/packet depends on github.com/other/x, but may use only the standard library",
		"broker depends on github.com/jmqx/jmqx/tenant",
		"listeners depends on github.com/jmqx/jmqx/broker",
		"integration depends on github.com/jmqx/jmqx/cmd/jmqx/internal/x",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d violations, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("violation %d = %q, want it to contain %q", i, got[i], want[i])
		}
	}
}
