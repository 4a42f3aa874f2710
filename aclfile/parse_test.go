package aclfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text string
		want string
	}{
		{"topic read a\n\ntopic reed b\n", `aclfile: input:3: unknown access "reed"`},
		{"topic read a b c\nfoo bar\n", `aclfile: input:2: unknown keyword "foo"`},
		{"Topic a\n", `aclfile: input:1: unknown keyword "Topic"`},
		{"topic\n", `aclfile: input:1: topic: missing topic`},
		{"pattern   \n", `aclfile: input:1: pattern: missing topic`},
		{"user\n", `aclfile: input:1: user: missing user name`},
		{"topic read a/#/b\n", `aclfile: input:1: invalid topic "a/#/b": '#' must be the whole last level`},
		{"topic a+\n", `aclfile: input:1: invalid topic "a+": '+' must be a whole level`},
		{"pattern write x/%u+\n", `aclfile: input:1: invalid topic "x/%u+"`},
		{"topic a\x00b\n", `aclfile: input:1: invalid topic "a\x00b": topic contains U+0000`},
		{"# ok\ntopic \xff\n", `aclfile: input:2: line is not valid UTF-8`},
		{"topic read a\n" + strings.Repeat("x", maxLine+1), `aclfile: input:2: line longer than`},
	}
	for _, tt := range tests {
		_, err := Parse(strings.NewReader(tt.text))
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Parse(%.40q) = %v, want an error starting %q", tt.text, err, tt.want)
			continue
		}
		var pe *ParseError
		if !errors.As(err, &pe) || pe.File != "input" || pe.Line < 1 {
			t.Errorf("Parse(%.40q) error %#v is not a *ParseError with a line", tt.text, err)
		}
	}
}

func TestParseSyntax(t *testing.T) {
	t.Parallel()
	text := "\uFEFF# comment\r\n" +
		"   # indented comment\n" +
		"\n" +
		"topic a/b\r\n" + // access defaults to readwrite
		"topic read\n" + // one word: the topic "read"
		"topic deny  spaced topic/x  \n" +
		"user alice\n" +
		"pattern write p/%u\n" + // patterns are global wherever they appear
		"topic write w\n" +
		"user bob\n" +
		"topic read r\n" +
		"user alice\n" + // sections of one user add up
		"topic read r2\n"
	acl := mustParse(t, text)
	want := "topic readwrite a/b\n" +
		"topic readwrite read\n" +
		"topic deny spaced topic/x\n" +
		"pattern write p/%u\n" +
		"user alice\n" +
		"topic write w\n" +
		"topic read r2\n" +
		"user bob\n" +
		"topic read r\n"
	if got := acl.String(); got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
	if again := mustParse(t, acl.String()).String(); again != want {
		t.Errorf("String() does not round-trip:\n%s", again)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "acl.conf")
	if err := os.WriteFile(path, []byte("topic read a\n# two\n\ntopic reed b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if want := path + `:4: unknown access "reed"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Load = %v, want an error containing %q", err, want)
	}

	_, err = Load(filepath.Join(dir, "missing.conf"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.conf") {
		t.Errorf("Load(missing) = %v, want a not-exist error naming the file", err)
	}
}
