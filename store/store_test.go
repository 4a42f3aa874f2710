package store

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// saved is a fixed record time (time.Unix, as the records decode it).
var saved = time.Unix(0, 1_780_000_000_123_456_789)

// sampleSession is a session with every kind of content: subscriptions,
// inflight messages (one with properties, one released), queued messages,
// inbound QoS 2 ids and a will.
func sampleSession(id string) broker.StoredSession {
	props := broker.WirePublish{Topic: "a/p", Payload: []byte("props"), QoS: 2}
	props.Props.Set(packet.PropContentType)
	props.Props.ContentType = "text/plain"
	props.Props.Set(packet.PropMessageExpiry)
	props.Props.MessageExpiry = 60
	props.Props.Set(packet.PropUserProperty)
	props.Props.User = []packet.UserProperty{{Key: "k", Value: "v"}}
	props.Props.Set(packet.PropCorrelationData)
	props.Props.CorrelationData = []byte{1, 2, 3}
	return broker.StoredSession{
		Saved:  saved,
		Online: true,
		State: broker.SessionState{
			ClientID: id, Expiry: 3600, NextPID: 8,
			Subscriptions: []broker.SessionSub{{Filter: "a/#", QoS: 1}, {Filter: "$share/g/b/+", QoS: 2, ID: 9},
				{Filter: "c", NoLocal: true, RetainAsPublished: true, CheckRead: true}},
			Inflight: []broker.InflightState{
				{PacketID: 5, QoS: 1, Message: &broker.WirePublish{Topic: "b/x", Payload: []byte("one"), QoS: 1}, Group: "$share/g/b/+"},
				{PacketID: 6, QoS: 2, Released: true, SubIDs: []uint32{9}},
				{PacketID: 7, QoS: 2, Retain: true, SubIDs: []uint32{1, 2}, Message: &props},
			},
			Queue: []broker.QueuedState{
				{QoS: 1, Message: &broker.WirePublish{Topic: "a/y", Payload: []byte("two"), QoS: 1}},
				{QoS: 0, Retain: true, SubIDs: []uint32{3}, Message: &broker.WirePublish{Topic: "c", Payload: []byte("three")}},
			},
			InQoS2: []uint16{3, 4},
			Will: &broker.WillState{Message: broker.WirePublish{Topic: "will/" + id, Payload: []byte("gone"), QoS: 1, Retain: true},
				Delay: 30, Expiry: 3600, Connected: true},
		},
	}
}

// sampleRetained is a retained message with properties.
func sampleRetained(topic string) broker.StoredRetained {
	m := broker.WirePublish{Topic: topic, Payload: []byte("retained on " + topic), QoS: 1, Retain: true}
	m.Props.Set(packet.PropPayloadFormat)
	m.Props.PayloadFormat = 1
	m.Props.Set(packet.PropResponseTopic)
	m.Props.ResponseTopic = "reply/" + topic
	return broker.StoredRetained{Saved: saved, Message: m}
}

// openT opens the store at path, closing it when the test ends.
func openT(t testing.TB, path string) *Bolt {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func writeT(t testing.TB, s *Bolt, b *broker.StoreBatch) {
	t.Helper()
	if err := s.Write(b); err != nil {
		t.Fatal(err)
	}
}

// reopen closes s and loads its file in a new store.
func reopen(t testing.TB, s *Bolt) (*Bolt, *broker.StoreContents) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, s.Path())
	c, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	s := openT(t, filepath.Join(t.TempDir(), "acme.db"))
	if c, err := s.Load(); err != nil || len(c.Sessions)+len(c.Retained) != 0 || !c.Alive.IsZero() {
		t.Fatalf("new store: %+v, %v", c, err)
	}
	offline := sampleSession("dev-2")
	offline.Online = false
	offline.State.Will = nil
	sessions := []broker.StoredSession{sampleSession("dev-1"), offline, {Saved: saved, State: broker.SessionState{ClientID: "bare"}}}
	retained := []broker.StoredRetained{sampleRetained("a/b"), sampleRetained("$SYS/x"), sampleRetained("ünï/cödé")}
	at := time.Unix(0, 1_780_000_001_000_000_000)
	writeT(t, s, &broker.StoreBatch{Time: at, Sessions: sessions, Retained: retained})

	_, c := reopen(t, s)
	// Each kind in key order.
	wantSessions := []broker.StoredSession{sessions[2], sessions[0], sessions[1]}
	if !reflect.DeepEqual(c.Sessions, wantSessions) {
		t.Errorf("sessions:\n got %+v\nwant %+v", c.Sessions, wantSessions)
	}
	wantRetained := []broker.StoredRetained{retained[1], retained[0], retained[2]}
	if !reflect.DeepEqual(c.Retained, wantRetained) {
		t.Errorf("retained:\n got %+v\nwant %+v", c.Retained, wantRetained)
	}
	if !c.Alive.Equal(at) {
		t.Errorf("alive %v, want %v", c.Alive, at)
	}
}

// A batch deletes, then puts: a record deleted and put in one batch stays;
// a put replaces the record of its key; deleting a missing key is no error.
func TestWriteDeletesThenPuts(t *testing.T) {
	t.Parallel()
	s := openT(t, filepath.Join(t.TempDir(), "t.db"))
	writeT(t, s, &broker.StoreBatch{Time: saved,
		Sessions: []broker.StoredSession{sampleSession("a"), sampleSession("b"), sampleSession("c")},
		Retained: []broker.StoredRetained{sampleRetained("x"), sampleRetained("y")}})
	newer := sampleSession("c")
	newer.State.Expiry = 10
	writeT(t, s, &broker.StoreBatch{Time: saved.Add(time.Second),
		DeleteSessions: []string{"a", "b", "missing"}, DeleteRetained: []string{"x", "missing"},
		Sessions: []broker.StoredSession{sampleSession("b"), newer}})

	s, c := reopen(t, s)
	if len(c.Sessions) != 2 || c.Sessions[0].State.ClientID != "b" || c.Sessions[1].State.Expiry != 10 {
		t.Fatalf("sessions %+v", c.Sessions)
	}
	if len(c.Retained) != 1 || c.Retained[0].Message.Topic != "y" {
		t.Fatalf("retained %+v", c.Retained)
	}
	writeT(t, s, &broker.StoreBatch{Time: saved.Add(2 * time.Second), DeleteSessions: []string{"b", "c"}, DeleteRetained: []string{"y"}})
	if _, c := reopen(t, s); len(c.Sessions)+len(c.Retained) != 0 {
		t.Fatalf("after deleting all: %+v", c)
	}
}

// An empty batch records its time as the alive time; a zero time leaves it.
func TestAliveTime(t *testing.T) {
	t.Parallel()
	s := openT(t, filepath.Join(t.TempDir(), "t.db"))
	writeT(t, s, &broker.StoreBatch{Time: saved, Sessions: []broker.StoredSession{sampleSession("a")}})
	later := saved.Add(time.Minute)
	empty := &broker.StoreBatch{Time: later}
	if !empty.Empty() {
		t.Fatal("batch not empty")
	}
	writeT(t, s, empty)
	s, c := reopen(t, s)
	if !c.Alive.Equal(later) || len(c.Sessions) != 1 {
		t.Fatalf("alive %v, sessions %d; want %v, 1", c.Alive, len(c.Sessions), later)
	}
	writeT(t, s, &broker.StoreBatch{})
	if _, c := reopen(t, s); !c.Alive.Equal(later) {
		t.Fatalf("alive %v after a batch without time, want %v", c.Alive, later)
	}
}

// Client ids and topics too long for a bbolt key, or empty, still store.
func TestLongAndEmptyNames(t *testing.T) {
	t.Parallel()
	s := openT(t, filepath.Join(t.TempDir(), "t.db"))
	long := strings.Repeat("x", 40_000)
	writeT(t, s, &broker.StoreBatch{Time: saved,
		Sessions: []broker.StoredSession{sampleSession(long), sampleSession("")},
		Retained: []broker.StoredRetained{sampleRetained(long + "/t")}})
	s, c := reopen(t, s)
	if len(c.Sessions) != 2 || len(c.Retained) != 1 || c.Retained[0].Message.Topic != long+"/t" {
		t.Fatalf("loaded %d sessions, %d retained", len(c.Sessions), len(c.Retained))
	}
	writeT(t, s, &broker.StoreBatch{Time: saved, DeleteSessions: []string{long, ""}, DeleteRetained: []string{long + "/t"}})
	if _, c := reopen(t, s); len(c.Sessions)+len(c.Retained) != 0 {
		t.Fatalf("after deleting: %d sessions, %d retained", len(c.Sessions), len(c.Retained))
	}
}

// The file is 0600 in a directory Open creates 0700; an existing directory
// keeps its mode, and an existing file open to others is made 0600.
func TestFileModes(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "new", "store", "acme.db")
	s := openT(t, path)
	assertMode(t, path, 0o600)
	assertMode(t, filepath.Dir(path), 0o700)
	assertMode(t, filepath.Join(root, "new"), 0o700)
	assertMode(t, root, 0o755)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	openT(t, path)
	assertMode(t, path, 0o600)
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s: mode %v, want %v", path, got, want)
	}
}

// A file already open (locked) gets an error after the lock timeout, not a
// hang; once closed it opens.
func TestOpenLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "t.db")
	s := openT(t, path)
	start := time.Now()
	_, err := Open(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second open: %v", err)
	}
	if d := time.Since(start); d > 10*lockTimeout {
		t.Fatalf("second open took %v", d)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	openT(t, path)
}

func TestRemove(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "t.db")
	s := openT(t, path)
	writeT(t, s, &broker.StoreBatch{Time: saved, Sessions: []broker.StoredSession{sampleSession("a")}})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("stat after Remove: %v", err)
	}
	if err := Remove(path); err != nil {
		t.Fatalf("removing a missing file: %v", err)
	}
	// A new store in its place is empty.
	if c, err := openT(t, path).Load(); err != nil || len(c.Sessions) != 0 {
		t.Fatalf("reopened: %+v, %v", c, err)
	}
	dir := filepath.Join(t.TempDir(), "d.db")
	if err := os.MkdirAll(filepath.Join(dir, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := Remove(dir); err == nil || !strings.HasPrefix(err.Error(), "store: "+dir+": remove: ") {
		t.Fatalf("removing a directory with content: %v", err)
	}
}

// Writing to or loading a closed store is an error naming the file.
func TestClosed(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "t.db")
	s := openT(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(&broker.StoreBatch{Time: saved, Sessions: []broker.StoredSession{sampleSession("a")}}); err == nil ||
		!strings.HasPrefix(err.Error(), "store: "+path+": write: ") {
		t.Fatalf("write: %v", err)
	}
	if _, err := s.Load(); err == nil || !strings.HasPrefix(err.Error(), "store: "+path+": load: ") {
		t.Fatalf("load: %v", err)
	}
}
