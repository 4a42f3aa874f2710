package hclogzap

import (
	"testing"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// newObserved returns an adapter over an observer core at level min.
func newObserved(min zapcore.Level) (hclog.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(min)
	return New(zap.New(core).Named("meta")), logs
}

func TestLevels(t *testing.T) {
	t.Parallel()
	l, logs := newObserved(zapcore.DebugLevel)
	l.Trace("t")
	l.Debug("d")
	l.Info("i")
	l.Warn("w")
	l.Error("e")
	l.Log(hclog.Warn, "lw")
	want := []zapcore.Level{zapcore.DebugLevel, zapcore.DebugLevel, zapcore.InfoLevel, zapcore.WarnLevel, zapcore.ErrorLevel, zapcore.WarnLevel}
	got := logs.All()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i, e := range got {
		if e.Level != want[i] {
			t.Errorf("entry %d (%s): level %s, want %s", i, e.Message, e.Level, want[i])
		}
	}
}

func TestLevelFilters(t *testing.T) {
	t.Parallel()
	l, logs := newObserved(zapcore.InfoLevel)
	if l.IsDebug() || l.IsTrace() || !l.IsInfo() || !l.IsError() {
		t.Error("Is* do not follow the zap core")
	}
	if l.GetLevel() != hclog.Info {
		t.Errorf("GetLevel = %s, want info", l.GetLevel())
	}
	l.Debug("dropped")
	l.SetLevel(hclog.Warn)
	l.Info("dropped too")
	l.Named("x").Warn("kept")
	if n := logs.Len(); n != 1 {
		t.Errorf("%d entries, want 1", n)
	}
	if l.GetLevel() != hclog.Warn || l.IsInfo() {
		t.Error("SetLevel ignored")
	}
}

func TestWithAndNamed(t *testing.T) {
	t.Parallel()
	l, logs := newObserved(zapcore.DebugLevel)
	n := l.Named("raft").With("peer", "n2").Named("net")
	if n.Name() != "raft.net" {
		t.Errorf("Name = %q", n.Name())
	}
	if a := n.ImpliedArgs(); len(a) != 2 || a[0] != "peer" {
		t.Errorf("ImpliedArgs = %v", a)
	}
	n.Info("hello", "index", 7, "odd")
	e := logs.All()[0]
	if e.LoggerName != "meta.raft.net" {
		t.Errorf("zap name = %q", e.LoggerName)
	}
	ctx := e.ContextMap()
	if ctx["peer"] != "n2" || ctx["index"] != int64(7) || ctx[hclog.MissingKey] != "odd" {
		t.Errorf("fields = %v", ctx)
	}
	r := n.ResetNamed("other")
	r.Info("again")
	if e := logs.All()[1]; e.LoggerName != "meta.other" || e.ContextMap()["peer"] != "n2" {
		t.Errorf("ResetNamed: name %q fields %v", e.LoggerName, e.ContextMap())
	}
	l.Info("fmt", hclog.Fmt("%d-%s", 1, "x"))
	if e := logs.All()[2]; e.Message != "fmt: 1-x" {
		t.Errorf("Fmt message = %q", e.Message)
	}
}

func TestStandardLogger(t *testing.T) {
	t.Parallel()
	l, logs := newObserved(zapcore.DebugLevel)
	l.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}).Print("[ERR] broken pipe")
	l.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn}).Print("[DEBUG] forced")
	w := l.StandardWriter(nil)
	if _, err := w.Write([]byte("[WARN] plain\n\nsecond\n")); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		level zapcore.Level
		msg   string
	}{
		{zapcore.ErrorLevel, "broken pipe"},
		{zapcore.WarnLevel, "forced"},
		{zapcore.InfoLevel, "[WARN] plain"},
		{zapcore.InfoLevel, "second"},
	}
	got := logs.All()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Level != w.level || got[i].Message != w.msg {
			t.Errorf("entry %d = %s %q, want %s %q", i, got[i].Level, got[i].Message, w.level, w.msg)
		}
	}
}

func TestNilLogger(t *testing.T) {
	t.Parallel()
	l := New(nil)
	l.Error("nothing")
	if l.IsError() {
		t.Error("nop logger claims to log errors")
	}
}

// TestFormattingValues: raft logs its configuration as
// "servers", hclog.Fmt("%+v", servers); the field is the formatted string,
// never the Format slice (which zap encoded as ["%+v", [...]]).
func TestFormattingValues(t *testing.T) {
	t.Parallel()
	l, logs := newObserved(zapcore.DebugLevel)
	type server struct{ ID, Address string }
	l.Info("initial configuration", "index", 1, "servers", hclog.Fmt("%+v", []server{{"n1", "127.0.0.1:1"}}),
		"hex", hclog.Hex(255), "oct", hclog.Octal(8), "bin", hclog.Binary(5), "q", hclog.Quote("a\nb"),
		"odd", hclog.Format{42, "x"})
	l.With("implied", hclog.Fmt("%03d", 7)).Warn("with", hclog.CapturedStacktrace("goroutine 1"))
	got := logs.All()
	want := map[string]any{
		"index": int64(1), "servers": "[{ID:n1 Address:127.0.0.1:1}]",
		"hex": "0xff", "oct": "010", "bin": "0b101", "q": `"a\nb"`, "odd": "42 x",
	}
	for k, v := range want {
		if g := got[0].ContextMap()[k]; g != v {
			t.Errorf("%s = %#v, want %#v", k, g, v)
		}
	}
	if c := got[1].ContextMap(); c["implied"] != "007" || c["stacktrace"] != "goroutine 1" {
		t.Errorf("With and stack trace fields = %v", c)
	}
}
