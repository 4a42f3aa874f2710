// Package hclogzap adapts a zap logger to hclog.Logger, so the HashiCorp
// libraries (raft, its transports) log through the same zap core as the
// rest of jmqx.
//
// Levels map as follows: hclog Trace and Debug become zap Debug, Info
// becomes Info, Warn becomes Warn, Error becomes Error. hclog's key/value
// argument pairs become zap fields, hclog's formatting values (hclog.Fmt,
// Hex, Octal, Binary, Quote) rendered as hclog renders them; Named appends to the zap logger name
// ("meta.raft"); With adds fields. SetLevel filters on top of whatever the
// zap core already filters.
package hclogzap

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns an hclog.Logger writing to l. A nil l gives a logger that
// discards everything. The returned logger is safe for concurrent use.
func New(l *zap.Logger) hclog.Logger {
	if l == nil {
		l = zap.NewNop()
	}
	lvl := new(atomic.Int32)
	lvl.Store(int32(hclog.NoLevel))
	// AddCallerSkip(2): Info → log → zap's Check/Write.
	return &logger{root: l, zl: l.WithOptions(zap.AddCallerSkip(2)), level: lvl}
}

// logger is the adapter. root is the zap logger New was given (ResetNamed
// starts again from it); zl is root with this logger's name and implied
// fields applied. level is shared by a logger and everything derived from
// it, as in hclog.
type logger struct {
	root    *zap.Logger
	zl      *zap.Logger
	name    string
	implied []any
	level   *atomic.Int32
}

var _ hclog.Logger = (*logger)(nil)

// Log emits msg at level with args as key/value pairs.
func (l *logger) Log(level hclog.Level, msg string, args ...any) { l.log(level, msg, args) }

// Trace emits msg at zap's Debug level.
func (l *logger) Trace(msg string, args ...any) { l.log(hclog.Trace, msg, args) }

// Debug emits msg at zap's Debug level.
func (l *logger) Debug(msg string, args ...any) { l.log(hclog.Debug, msg, args) }

// Info emits msg at zap's Info level.
func (l *logger) Info(msg string, args ...any) { l.log(hclog.Info, msg, args) }

// Warn emits msg at zap's Warn level.
func (l *logger) Warn(msg string, args ...any) { l.log(hclog.Warn, msg, args) }

// Error emits msg at zap's Error level.
func (l *logger) Error(msg string, args ...any) { l.log(hclog.Error, msg, args) }

// IsTrace reports whether Trace messages are emitted.
func (l *logger) IsTrace() bool { return l.enabled(hclog.Trace) }

// IsDebug reports whether Debug messages are emitted.
func (l *logger) IsDebug() bool { return l.enabled(hclog.Debug) }

// IsInfo reports whether Info messages are emitted.
func (l *logger) IsInfo() bool { return l.enabled(hclog.Info) }

// IsWarn reports whether Warn messages are emitted.
func (l *logger) IsWarn() bool { return l.enabled(hclog.Warn) }

// IsError reports whether Error messages are emitted.
func (l *logger) IsError() bool { return l.enabled(hclog.Error) }

// ImpliedArgs returns the key/value pairs added with With.
func (l *logger) ImpliedArgs() []any { return append([]any(nil), l.implied...) }

// With returns a logger that adds args (key/value pairs) to every message.
func (l *logger) With(args ...any) hclog.Logger {
	if len(args) == 0 {
		return l
	}
	c := *l
	c.implied = append(append([]any(nil), l.implied...), args...)
	c.zl = l.zl.With(fields(args)...)
	return &c
}

// Name returns the logger's hclog name (the zap name given to New is not
// part of it).
func (l *logger) Name() string { return l.name }

// Named returns a logger whose name is this one's with "." and name
// appended.
func (l *logger) Named(name string) hclog.Logger {
	full := name
	if l.name != "" {
		full = l.name + "." + name
	}
	c := *l
	c.name = full
	c.zl = l.zl.Named(name)
	return &c
}

// ResetNamed returns a logger named name below the zap logger given to New,
// keeping the implied arguments.
func (l *logger) ResetNamed(name string) hclog.Logger {
	c := *l
	c.name = name
	c.zl = l.root.WithOptions(zap.AddCallerSkip(2)).Named(name).With(fields(l.implied)...)
	return &c
}

// SetLevel sets the lowest level emitted by this logger and those derived
// from it; hclog.NoLevel leaves filtering to the zap core.
func (l *logger) SetLevel(level hclog.Level) { l.level.Store(int32(level)) }

// GetLevel returns the lowest level emitted.
func (l *logger) GetLevel() hclog.Level {
	if lv := hclog.Level(l.level.Load()); lv != hclog.NoLevel {
		return lv
	}
	for _, lv := range []hclog.Level{hclog.Trace, hclog.Info, hclog.Warn, hclog.Error} {
		if l.zl.Core().Enabled(zapLevel(lv)) {
			return lv
		}
	}
	return hclog.Off
}

// StandardLogger returns a *log.Logger writing to this logger, for
// libraries that want one; see StandardWriter for opts.
func (l *logger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

// StandardWriter returns a writer that logs each line written to it. With
// opts.ForceLevel set, every line is logged at that level; with
// opts.InferLevels, a leading "[DEBUG]", "[TRACE]", "[INFO]", "[WARN]",
// "[ERROR]" or "[ERR]" picks the level and is stripped; otherwise lines are
// logged at Info.
func (l *logger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	w := &writer{l: l}
	if opts != nil {
		w.infer = opts.InferLevels
		w.force = opts.ForceLevel
	}
	return w
}

// log writes one message; args are key/value pairs, or a single
// hclog.Format whose first element is a format string.
func (l *logger) log(level hclog.Level, msg string, args []any) {
	if !l.enabled(level) {
		return
	}
	if len(args) == 1 {
		if f, ok := args[0].(hclog.Format); ok && len(f) > 0 {
			msg = msg + ": " + formatted(f)
			args = nil
		}
	}
	if ce := l.zl.Check(zapLevel(level), msg); ce != nil {
		ce.Write(fields(args)...)
	}
}

// enabled reports whether level passes both this logger's level and the
// zap core.
func (l *logger) enabled(level hclog.Level) bool {
	if min := hclog.Level(l.level.Load()); min != hclog.NoLevel && level < min {
		return false
	}
	return level != hclog.Off && l.zl.Core().Enabled(zapLevel(level))
}

// zapLevel maps an hclog level to zap's.
func zapLevel(level hclog.Level) zapcore.Level {
	switch {
	case level <= hclog.Debug:
		return zapcore.DebugLevel
	case level == hclog.Info:
		return zapcore.InfoLevel
	case level == hclog.Warn:
		return zapcore.WarnLevel
	default:
		return zapcore.ErrorLevel
	}
}

// fields turns hclog key/value pairs into zap fields. A key that is not a
// string is formatted; a value without a key goes under
// "EXTRA_VALUE_AT_END", as hclog does, except a trailing
// hclog.CapturedStacktrace, which becomes "stacktrace".
func fields(args []any) []zap.Field {
	if len(args) == 0 {
		return nil
	}
	fs := make([]zap.Field, 0, (len(args)+1)/2)
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			if st, ok := args[i].(hclog.CapturedStacktrace); ok {
				fs = append(fs, zap.String("stacktrace", string(st)))
			} else {
				fs = append(fs, field(hclog.MissingKey, args[i]))
			}
			break
		}
		key, ok := args[i].(string)
		if !ok {
			key = fmt.Sprint(args[i])
		}
		fs = append(fs, field(key, args[i+1]))
	}
	return fs
}

// field is one key/value pair. hclog's formatting types render as hclog
// renders them: an hclog.Format value (raft logs its configuration as
// hclog.Fmt("%+v", servers)) is formatted rather than encoded as the
// slice it is, Hex, Octal and Binary get their prefixes, Quote is quoted.
func field(key string, v any) zap.Field {
	switch v := v.(type) {
	case hclog.Format:
		return zap.String(key, formatted(v))
	case hclog.Hex:
		return zap.String(key, "0x"+strconv.FormatUint(uint64(v), 16))
	case hclog.Octal:
		return zap.String(key, "0"+strconv.FormatUint(uint64(v), 8))
	case hclog.Binary:
		return zap.String(key, "0b"+strconv.FormatUint(uint64(v), 2))
	case hclog.Quote:
		return zap.String(key, strconv.Quote(string(v)))
	case hclog.CapturedStacktrace:
		return zap.String(key, string(v))
	}
	return zap.Any(key, v)
}

// formatted renders an hclog.Format: its first element is the format, the
// rest its arguments. One whose first element is not a string (hclog
// would panic) prints its elements separated by spaces.
func formatted(f hclog.Format) string {
	if len(f) > 0 {
		if format, ok := f[0].(string); ok {
			return fmt.Sprintf(format, f[1:]...)
		}
	}
	return strings.TrimSuffix(fmt.Sprintln(f...), "\n")
}

// writer is the io.Writer behind StandardWriter.
type writer struct {
	l     *logger
	infer bool
	force hclog.Level
}

// Write logs each non-empty line of p.
func (w *writer) Write(p []byte) (int, error) {
	for line := range bytes.SplitSeq(p, []byte("\n")) {
		s := strings.TrimSpace(string(line))
		if s == "" {
			continue
		}
		level, msg := hclog.Info, s
		if w.infer || w.force != hclog.NoLevel {
			level, msg = pickLevel(s)
		}
		if w.force != hclog.NoLevel {
			level = w.force
		}
		w.l.log(level, msg, nil)
	}
	return len(p), nil
}

// pickLevel strips a leading level tag from s and returns its level (Info
// if there is none).
func pickLevel(s string) (hclog.Level, string) {
	for _, p := range []struct {
		tag   string
		level hclog.Level
	}{
		{"[TRACE]", hclog.Trace}, {"[DEBUG]", hclog.Debug}, {"[INFO]", hclog.Info},
		{"[WARN]", hclog.Warn}, {"[ERROR]", hclog.Error}, {"[ERR]", hclog.Error},
	} {
		if rest, ok := strings.CutPrefix(s, p.tag); ok {
			return p.level, strings.TrimSpace(rest)
		}
	}
	return hclog.Info, s
}
