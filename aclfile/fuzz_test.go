package aclfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmqx/jmqx/broker"
)

// FuzzParse feeds arbitrary files to Parse. Parsing must never panic; a
// failure must be a *ParseError naming a line; a success must print (String)
// to a file that parses to the same text and answers every probe alike
// (CanPublish, CanSubscribe, CheckReads, CanRead), and a subscription
// granted without per-message checks must never carry a message CanRead
// refuses.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.conf")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"# only a comment\n",
		"topic a/b\n",
		"topic read #\ntopic deny test/nosubscribe\n",
		"topic reed a\n",
		"user alice\ntopic write alice/#\nuser bob\ntopic read +/b\n",
		"pattern readwrite users/%u/#\npattern write d/%c/+\n",
		"pattern read a/%u%c%x%/\n",
		"topic read $SYS/#\ntopic deny +/x\n",
		"topic a/#/b\n",
		"user\n",
		"\uFEFFtopic\tread\ta b\r\n",
		"user a b\ntopic read  x  y \n",
	} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		acl, err := Parse(strings.NewReader(string(data)))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != "input" || pe.Line < 1 {
				t.Fatalf("error %v is not a *ParseError naming a line", err)
			}
			return
		}
		text := acl.String()
		again, err := Parse(strings.NewReader(text))
		if err != nil {
			t.Fatalf("String() output does not parse: %v\n%s", err, text)
		}
		if got := again.String(); got != text {
			t.Fatalf("String() is not stable:\n%s\nthen\n%s", text, got)
		}

		clients := []*broker.ClientInfo{{ClientID: "c"}, {ClientID: "x/y", Username: "u+"}}
		for i, u := range acl.userOrder {
			if i == 4 {
				break
			}
			clients = append(clients, &broker.ClientInfo{ClientID: "id" + u, Username: u})
		}
		probes := []string{"#", "+", "a", "a/b", "$SYS/x", "$share/g/a/#", ""}
		for i, r := range allRules(acl) {
			if i == 16 {
				break
			}
			probes = append(probes, r.filter, r.filter+"/x", strings.ReplaceAll(r.filter, "%u", "u"),
				asTopic.Replace(r.filter))
		}
		for _, c := range clients {
			for _, p := range probes {
				if acl.CanPublish(c, p) != again.CanPublish(c, p) ||
					acl.CanSubscribe(c, p) != again.CanSubscribe(c, p) ||
					acl.CheckReads(c, p) != again.CheckReads(c, p) ||
					acl.CanRead(c, p) != again.CanRead(c, p) {
					t.Fatalf("client %+v, %q: answers differ after printing and parsing", c, p)
				}
			}
			checkNoLeak(t, acl, c, probes)
		}
	})
}

// checkNoLeak fails when a message on one of the probe topics would reach
// c through a subscription to one of the probe filters that the ACL lets c
// make without per-message checks, although CanRead refuses the topic.
func checkNoLeak(t *testing.T, acl *ACL, c *broker.ClientInfo, probes []string) {
	t.Helper()
	for _, f := range probes {
		inner := f
		if s, ok := sharedFilter(f); ok {
			inner = s
		}
		if validateFilter(inner) != nil || !acl.CanSubscribe(c, f) || acl.CheckReads(c, f) {
			continue
		}
		for _, topic := range probes {
			if strings.ContainsAny(topic, "+#") || validateFilter(topic) != nil || !refMatch(inner, topic) {
				continue
			}
			if !acl.CanRead(c, topic) {
				t.Fatalf("client %+v subscribed to %q without per-message checks, yet CanRead(%q) = false", c, f, topic)
			}
		}
	}
}

// asTopic turns a rule's filter into one of the topic names it matches (for
// client "c" of user "u").
var asTopic = strings.NewReplacer("+", "a", "#", "a/b", "%u", "u", "%c", "c")

func allRules(a *ACL) []rule {
	all := append(append([]rule(nil), a.anonymous...), a.patterns...)
	for _, u := range a.userOrder {
		all = append(all, a.users[u]...)
	}
	return all
}
