package tenant

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmqx/jmqx/internal/certgen"
)

// tlsMaterial writes a server certificate and key for 127.0.0.1.
func tlsMaterial(t *testing.T) *TLS {
	t.Helper()
	b, err := certgen.Generate(certgen.Options{Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := b.WriteFiles(dir, false); err != nil {
		t.Fatal(err)
	}
	return &TLS{CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server-key.pem")}
}

// A tenant the Host cannot serve (MQTTS without TLS material on a Host
// without any) does not stop the others; it is reported, logged once, and
// served by a later Reconcile once its spec gives TLS material.
func TestReconcileServesOthersPastFailedTenant(t *testing.T) {
	h, logs := testHost(t, HostConfig{})
	secure := mqttOnly("secure", PortAuto)
	secure.Listeners.MQTTS = PortAuto
	specs := []Spec{mqttOnly("a", PortAuto), secure, mqttOnly("z", PortAuto)}
	for range 2 {
		err := h.Reconcile(specs)
		if err == nil || !strings.Contains(err.Error(), `tenant "secure": listeners.mqtts auto: needs TLS material`) {
			t.Fatalf("Reconcile = %v, want the failure of secure", err)
		}
	}
	for _, name := range []string{"a", "z"} {
		if st, _ := h.Get(name); !st.Running || st.Error != "" || st.Listeners["mqtt"] == "" {
			t.Errorf("%s not served: %+v", name, st)
		}
	}
	st, ok := h.Get("secure")
	if !ok || st.Running || !strings.Contains(st.Error, "needs TLS material") || len(st.Listeners) != 0 {
		t.Errorf("secure's status: ok %v, running %v, error %q, listeners %v", ok, st.Running, st.Error, st.Listeners)
	}
	if failed := h.Failed(); len(failed) != 1 || failed["secure"] == nil {
		t.Errorf("Failed() = %v, want secure only", failed)
	}
	if n := len(h.List()); n != 2 {
		t.Errorf("List has %d tenants, want the 2 running", n)
	}
	if n := logs.FilterMessageSnippet("tenant not served").Len(); n != 1 {
		t.Errorf("%d warnings for one failure retried, want 1", n)
	}

	secure.Listeners.TLS = tlsMaterial(t)
	if err := h.Reconcile([]Spec{mqttOnly("a", PortAuto), secure, mqttOnly("z", PortAuto)}); err != nil {
		t.Fatalf("Reconcile with TLS material: %v", err)
	}
	if st, _ := h.Get("secure"); !st.Running || st.Error != "" || st.Listeners["mqtts"] == "" {
		t.Errorf("secure not served with TLS material: %+v", st)
	}
	if failed := h.Failed(); len(failed) != 0 {
		t.Errorf("Failed() = %v after success", failed)
	}
	if n := logs.FilterMessageSnippet("served after an earlier failure").Len(); n != 1 {
		t.Errorf("%d recoveries logged, want 1", n)
	}
}

// A running tenant whose new spec can be applied only in part keeps
// serving, with the error on its status, until a spec it can serve.
func TestApplyInPartReportsError(t *testing.T) {
	h, _ := testHost(t, HostConfig{})
	spec := mqttOnly("part", PortAuto)
	before, err := h.Apply(spec)
	if err != nil {
		t.Fatal(err)
	}
	bad := spec
	bad.Listeners.MQTTS = PortAuto
	st, err := h.Apply(bad)
	if err == nil || !st.Running || st.Error == "" || st.Listeners["mqtt"] != before.Listeners["mqtt"] {
		t.Fatalf("Apply in part = %v, status %+v", err, st)
	}
	if h.Failed()["part"] == nil {
		t.Error("Failed() misses the tenant applied in part")
	}
	if st, err := h.Apply(spec); err != nil || st.Error != "" {
		t.Fatalf("Apply back = %v, error %q", err, st.Error)
	}
	if len(h.Failed()) != 0 {
		t.Errorf("Failed() = %v", h.Failed())
	}
}

// A spec that fails Validate in Reconcile is reported like one that cannot
// be served, and Remove forgets a failed tenant.
func TestReconcileRecordsInvalidSpecAndRemoveForgetsIt(t *testing.T) {
	h, _ := testHost(t, HostConfig{})
	bad := mqttOnly("bad", PortAuto)
	bad.Limits.MaxQoS = 7
	if err := h.Reconcile([]Spec{bad, mqttOnly("good", PortAuto)}); err == nil {
		t.Fatal("Reconcile accepted an invalid spec")
	}
	if st, _ := h.Get("good"); !st.Running {
		t.Error("good not served")
	}
	if st, ok := h.Get("bad"); !ok || st.Running || !strings.Contains(st.Error, "max_qos") {
		t.Errorf("bad's status: %+v", st)
	}
	if err := h.Remove("bad"); err != nil {
		t.Fatalf("Remove of a failed tenant: %v", err)
	}
	if _, ok := h.Get("bad"); ok || len(h.Failed()) != 0 {
		t.Errorf("bad still known: failed %v", h.Failed())
	}
	if err := h.Remove("bad"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove = %v, want ErrNotFound", err)
	}
	if err := h.Reconcile([]Spec{mqttOnly("good", PortAuto)}); err != nil {
		t.Errorf("Reconcile without the failed tenant: %v", err)
	}
}
