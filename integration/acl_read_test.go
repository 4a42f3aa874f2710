package integration

import (
	"strings"
	"testing"

	"github.com/jmqx/jmqx/aclfile"
	"github.com/jmqx/jmqx/broker"
)

// Item 11: with a Mosquitto acl_file that grants "read #" and denies
// "secret/#" to a user, that user's "#" subscription is granted but no
// message on secret/... reaches it; reads are checked per message, as
// Mosquitto does.
func TestACLFileDeniedReadsNotDelivered(t *testing.T) {
	t.Parallel()
	acl, err := aclfile.Parse(strings.NewReader("user reader\ntopic read #\ntopic deny secret/#\n\nuser writer\ntopic write #\n"))
	if err != nil {
		t.Fatal(err)
	}
	n := startBroker(t, broker.Config{}, broker.WithHooks(acl))
	reader := dialV5(t, n, "r", credentials("reader", "x"))
	if rc := reader.subscribe("#", 1); rc != 1 {
		t.Fatalf("SUBACK 0x%02x for #, want 0x01", rc)
	}
	writer := dialV5(t, n, "w", credentials("writer", "x"))
	writer.publish("secret/plans", "hidden", 1, false)
	writer.publish("secret", "hidden too", 1, true)
	writer.publish("public/news", "seen", 1, false)
	if m := expectMessage(t, reader.msgs, waitFor); m.Topic != "public/news" {
		t.Fatalf("the # subscriber got %s, want only public/news", m)
	}
	if got := n.b.Stats().Drops["not authorized to read"]; got != 2 {
		t.Fatalf("%d deliveries refused by the ACL, want 2", got)
	}
	late := dialV5(t, n, "late", credentials("reader", "x"))
	late.subscribe("#", 1)
	writer.publish("public/end", "end", 1, false)
	if m := expectMessage(t, late.msgs, waitFor); m.Topic != "public/end" {
		t.Fatalf("a late # subscriber got %s: the retained secret leaked", m)
	}
}
