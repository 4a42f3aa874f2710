package integration

// End-to-end tests of the control plane's safety with the real binary: a
// join that can never complete does not cost a cluster its quorum, and a
// conditional update (If-Match) is decided atomically.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// adminRequest sends a JSON request to a node's admin API as a browser
// could not: Content-Type application/json, the Host its address. It
// returns the status and the body.
func adminRequest(t *testing.T, n *cliNode, method, path string, body any, header map[string]string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+n.admin+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// A join for a node whose Raft address answers nothing (a phantom, or a
// wrong --raft-advertise) leaves a one-node cluster writable: the phantom
// is at most a non-voter.
func TestE2EPhantomJoinKeepsTheClusterWritable(t *testing.T) {
	t.Parallel()
	n := newCLINode(t, "n1", "")
	n.start(false)
	phantom := map[string]string{
		"id":         "phantom",
		"raft_addr":  fmt.Sprintf("127.0.0.1:%d", freePort(t)), // nothing listens there
		"admin_addr": n.admin,                                  // answers, so the join gets as far as Raft
	}

	status, body := adminRequest(t, n, http.MethodPost, "/v1/cluster/join", phantom, nil)
	t.Logf("join of the phantom: %d %s", status, body)

	mustCLI(t, n.admin, "", "tenant", "create", "after-phantom", "--allow-anonymous", "--ws-port", "off", "--json")
	names, err := tenantNames(t, n.admin)
	if err != nil || !names["after-phantom"] {
		t.Fatalf("tenants after the phantom's join: %v, %v", names, err)
	}
	ms, err := clusterMembers(t, n.admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.ID == "phantom" && m.Voter {
			t.Fatalf("the phantom is a voter: %+v", ms)
		}
		if m.ID == "n1" && m.Role != "leader" {
			t.Fatalf("n1 no longer leads: %+v", ms)
		}
	}
}

// Two updates made from the same read: the first wins, the second is
// refused with 412 and changes nothing.
func TestE2EIfMatchUpdatesAreNeverLost(t *testing.T) {
	t.Parallel()
	n := newCLINode(t, "n1", "")
	n.start(false)
	spec := func(acl string) map[string]any {
		return map[string]any{
			"name": "cas", "listeners": map[string]any{"mqtt": "auto", "ws": "off"},
			"auth": map[string]any{"allow_anonymous": true}, "acl": map[string]any{"default": acl},
		}
	}
	if status, body := adminRequest(t, n, http.MethodPost, "/v1/tenants", spec("allow"), nil); status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	var read struct {
		Revision string `json:"revision"`
	}
	status, body := adminRequest(t, n, http.MethodGet, "/v1/tenants/cas", nil, nil)
	if err := json.Unmarshal(body, &read); status != http.StatusOK || err != nil || read.Revision == "" {
		t.Fatalf("read: %d %s (%v)", status, body, err)
	}
	ifMatch := map[string]string{"If-Match": `"` + read.Revision + `"`}

	if status, body := adminRequest(t, n, http.MethodPut, "/v1/tenants/cas", spec("deny"), ifMatch); status != http.StatusOK {
		t.Fatalf("first update: %d %s", status, body)
	}
	if status, body := adminRequest(t, n, http.MethodPut, "/v1/tenants/cas", spec("allow"), ifMatch); status != http.StatusPreconditionFailed {
		t.Fatalf("second update from the same read: %d %s, want 412", status, body)
	}
	status, body = adminRequest(t, n, http.MethodGet, "/v1/tenants/cas", nil, nil)
	var now struct {
		Spec struct {
			ACL struct {
				Default string `json:"default"`
			} `json:"acl"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(body, &now); status != http.StatusOK || err != nil || now.Spec.ACL.Default != "deny" {
		t.Fatalf("after the updates: %d %s (%v); want the first update's ACL", status, body, err)
	}
}
