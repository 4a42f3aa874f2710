package packet

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateTopicName(t *testing.T) {
	tests := []struct {
		topic string
		ok    bool
	}{
		{"a", true},
		{"a/b/c", true},
		{"/", true},
		{"//", true},
		{"$SYS/broker", true},
		{"$share/g/a", true}, // just a name in a PUBLISH
		{"sport/tennis player1", true},
		{"été/ü/日本", true},
		{strings.Repeat("x", 65535), true},
		{"", false},
		{"a/+", false},
		{"+", false},
		{"#", false},
		{"a/#", false},
		{"a+b", false},
		{"a#", false},
		{"a\x00b", false},
		{"\xff", false},
		{"\xed\xa0\x80", false}, // a surrogate half
		{strings.Repeat("x", 65536), false},
	}
	for _, tt := range tests {
		err := ValidateTopicName(tt.topic)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, TopicNameInvalid)) {
			t.Errorf("ValidateTopicName(%.20q) = %v; want ok=%v", tt.topic, err, tt.ok)
		}
	}
}

func TestValidateTopicFilter(t *testing.T) {
	tests := []struct {
		filter string
		ok     bool
	}{
		{"a", true},
		{"a/b", true},
		{"#", true},
		{"+", true},
		{"a/#", true},
		{"a/+/c", true},
		{"+/+", true},
		{"/+", true},
		{"+/", true},
		{"/#", true},
		{"a//b", true},
		{"$SYS/#", true},
		{"été/+", true},
		{"$share/g/a/b", true},
		{"$share/g/#", true},
		{"$share/g/+/x", true},
		{"$share/g//", true},
		{"$share", true}, // not the shared form: an ordinary filter
		{"$sharex/a", true},
		{"", false},
		{"a#", false},
		{"a/#/b", false},
		{"#/", false},
		{"##", false},
		{"a+", false},
		{"+a", false},
		{"a/b+/c", false},
		{"++", false},
		{"a\x00", false},
		{"\xc3\x28", false},
		{"$share/", false},
		{"$share/g", false},
		{"$share//a", false},
		{"$share/g/", false},
		{"$share/g+/a", false},
		{"$share/#/a", false},
		{"$share/g/a#", false},
		{strings.Repeat("x", 65536), false},
	}
	for _, tt := range tests {
		err := ValidateTopicFilter(tt.filter)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, TopicFilterInvalid)) {
			t.Errorf("ValidateTopicFilter(%.20q) = %v; want ok=%v", tt.filter, err, tt.ok)
		}
	}
}

func TestParseShared(t *testing.T) {
	tests := []struct {
		filter, group, topicFilter string
		ok                         bool
	}{
		{"$share/g/a/b", "g", "a/b", true},
		{"$share/group/#", "group", "#", true},
		{"$share/g//", "g", "/", true},
		{"a/b", "", "", false},
		{"$share", "", "", false},
		{"$share/g", "", "", false},
		{"$share//a", "", "", false},
		{"$share/g/", "", "", false},
		{"$SHARE/g/a", "", "", false},
	}
	for _, tt := range tests {
		g, f, ok := ParseShared(tt.filter)
		if g != tt.group || f != tt.topicFilter || ok != tt.ok {
			t.Errorf("ParseShared(%q) = %q, %q, %v; want %q, %q, %v", tt.filter, g, f, ok, tt.group, tt.topicFilter, tt.ok)
		}
	}
}
