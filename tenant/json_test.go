package tenant

import (
	"encoding/json"
	"testing"
)

// The typed names (ListenerKind, Action, Access) encode as the plain
// strings they replaced: Status and Spec JSON is byte-identical to what it
// was when they were strings, and decodes back to the same values.
func TestJSONOfTypedNamesUnchanged(t *testing.T) {
	spec := Spec{Name: "acme", ACL: ACL{Default: Deny, Rules: []Rule{
		{Action: Allow, Access: AccessPublish, Topic: "sensors/%u/#"},
		{Action: Deny, Access: AccessSubscribe, Topic: "secret/#", User: "guest"},
		{Action: Allow, Access: AccessAll, Topic: "public/#"},
		{Action: Allow, Topic: "x"},
	}}}
	const wantSpec = `{"name":"acme","listeners":{},"auth":{},"acl":{"default":"deny","rules":[` +
		`{"action":"allow","access":"publish","topic":"sensors/%u/#"},` +
		`{"action":"deny","access":"subscribe","topic":"secret/#","user":"guest"},` +
		`{"action":"allow","access":"all","topic":"public/#"},` +
		`{"action":"allow","topic":"x"}]},"limits":{}}`
	got, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != wantSpec {
		t.Errorf("Spec JSON:\n got %s\nwant %s", got, wantSpec)
	}
	var back Spec
	if err := json.Unmarshal([]byte(wantSpec), &back); err != nil {
		t.Fatal(err)
	}
	if back.ACL.Default != Deny || len(back.ACL.Rules) != 4 || back.ACL.Rules[0] != spec.ACL.Rules[0] || back.ACL.Rules[1] != spec.ACL.Rules[1] {
		t.Errorf("decoded ACL %+v, want %+v", back.ACL, spec.ACL)
	}

	st := Status{Spec: Spec{Name: "acme"}, Running: true, Listeners: map[ListenerKind]string{
		"mqtt": "h:1883", "mqtts": "h:8883", "ws": "h:8080", "wss": "h:8443"}}
	got, err = json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	const wantListeners = `"listeners":{"mqtt":"h:1883","mqtts":"h:8883","ws":"h:8080","wss":"h:8443"},"stats":`
	const wantHead = `{"spec":{"name":"acme","listeners":{},"auth":{},"acl":{},"limits":{}},"running":true,` + wantListeners
	if len(got) < len(wantHead) || string(got[:len(wantHead)]) != wantHead {
		t.Errorf("Status JSON:\n got %s\nwant it to start with %s", got, wantHead)
	}
	var backSt Status
	if err := json.Unmarshal(got, &backSt); err != nil {
		t.Fatal(err)
	}
	if len(backSt.Listeners) != 4 || backSt.Listeners["wss"] != "h:8443" || backSt.Listeners["mqtt"] != "h:1883" {
		t.Errorf("decoded listeners %v, want %v", backSt.Listeners, st.Listeners)
	}
}
