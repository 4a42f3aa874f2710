package aclfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxLine bounds one line of an acl_file: a topic filter of the largest
// size MQTT allows, plus the keyword and access word.
const maxLine = maxFilterLen + 64

// ParseError is a syntax error in an acl_file. Its message names the file
// and the line: `aclfile: acl.conf:3: unknown access "reed"`.
type ParseError struct {
	File string // the path given to Load, or "input" for Parse
	Line int    // 1-based
	Err  error  // what is wrong with the line
}

// Error implements error.
func (e *ParseError) Error() string {
	return fmt.Sprintf("aclfile: %s:%d: %v", e.File, e.Line, e.Err)
}

// Unwrap returns the underlying error.
func (e *ParseError) Unwrap() error { return e.Err }

// Load reads and parses the acl_file at path. Syntax errors are
// *ParseError values naming path and the line.
func Load(path string) (*ACL, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("aclfile: %w", err)
	}
	defer f.Close()
	return parse(path, f)
}

// Parse reads an acl_file from r (see the package documentation for the
// syntax). Syntax errors are *ParseError values naming the line, with
// "input" as the file name.
func Parse(r io.Reader) (*ACL, error) {
	return parse("input", r)
}

func parse(name string, r io.Reader) (*ACL, error) {
	p := parser{acl: &ACL{users: make(map[string][]rule)}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if line == 1 {
			text = strings.TrimPrefix(text, "\uFEFF") // byte order mark
		}
		if err := p.line(text); err != nil {
			return nil, &ParseError{File: name, Line: line, Err: err}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("line longer than %d bytes", maxLine)
		}
		return nil, &ParseError{File: name, Line: line + 1, Err: err}
	}
	return p.acl, nil
}

// parser holds the state of one parse: the ACL being built and the current
// user section.
type parser struct {
	acl     *ACL
	user    string // current section; "" before the first "user" line
	inUsers bool   // a "user" line has been seen
}

func (p *parser) line(text string) error {
	if !utf8.ValidString(text) {
		return errors.New("line is not valid UTF-8")
	}
	text = strings.TrimSpace(text)
	if text == "" || text[0] == '#' {
		return nil
	}
	keyword, rest := cutSpace(text)
	switch keyword {
	case "user":
		if rest == "" {
			return errors.New("user: missing user name")
		}
		p.user, p.inUsers = rest, true
		if _, seen := p.acl.users[rest]; !seen {
			p.acl.users[rest] = nil
			p.acl.userOrder = append(p.acl.userOrder, rest)
		}
		return nil
	case "topic", "pattern":
		r, err := parseRule(keyword, rest)
		if err != nil {
			return err
		}
		switch {
		case r.pattern:
			p.acl.patterns = append(p.acl.patterns, r)
			p.acl.patternsUseUser = p.acl.patternsUseUser || r.pat.UsesUser()
			p.acl.patternsUseClient = p.acl.patternsUseClient || r.pat.UsesClient()
		case p.inUsers:
			p.acl.users[p.user] = append(p.acl.users[p.user], r)
		default:
			p.acl.anonymous = append(p.acl.anonymous, r)
		}
		return nil
	}
	return fmt.Errorf("unknown keyword %q (want topic, pattern or user)", keyword)
}

// parseRule parses what follows "topic" or "pattern": [ACCESS] TOPIC.
func parseRule(keyword, rest string) (rule, error) {
	if rest == "" {
		return rule{}, fmt.Errorf("%s: missing topic", keyword)
	}
	a, filter := accessReadWrite, rest
	if word, tail := cutSpace(rest); tail != "" {
		var ok bool
		if a, ok = accessWords[word]; !ok {
			return rule{}, fmt.Errorf("unknown access %q (want read, write, readwrite or deny)", word)
		}
		filter = tail
	}
	r, err := newRule(a, keyword == "pattern", filter)
	if err != nil {
		return rule{}, fmt.Errorf("invalid topic %q: %w", filter, err)
	}
	return r, nil
}

// cutSpace splits s, which has no leading space, at its first run of white
// space: the first word and the rest of the line.
func cutSpace(s string) (word, rest string) {
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeftFunc(s[i:], unicode.IsSpace)
}
