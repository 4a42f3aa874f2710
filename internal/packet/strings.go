package packet

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// sharePrefix starts a shared subscription's topic filter.
const sharePrefix = "$share/"

// maxStringLen is the longest UTF-8 Encoded String MQTT can carry.
const maxStringLen = 65535

// ValidateTopicName reports whether topic may name a topic in a PUBLISH or a
// Will: it must be non-empty [MQTT-4.7.3-1], hold no wildcard [MQTT-3.3.2-2],
// fit in 65535 bytes and be well-formed UTF-8 without U+0000 [MQTT-1.5.4-1]
// [MQTT-1.5.4-2]. The error wraps TopicNameInvalid.
func ValidateTopicName(topic string) error {
	if topic == "" {
		return fmt.Errorf("packet: topic name: empty: %w", TopicNameInvalid) // [MQTT-4.7.3-1]
	}
	if len(topic) > maxStringLen {
		return fmt.Errorf("packet: topic name: longer than %d bytes: %w", maxStringLen, TopicNameInvalid)
	}
	ascii := true
	for i := 0; i < len(topic); i++ {
		switch c := topic[i]; {
		case c == '+' || c == '#':
			return fmt.Errorf("packet: topic name: wildcard %q: %w", c, TopicNameInvalid) // [MQTT-3.3.2-2]
		case c == 0:
			return fmt.Errorf("packet: topic name: U+0000: %w", TopicNameInvalid) // [MQTT-1.5.4-2]
		case c >= 0x80:
			ascii = false
		}
	}
	if !ascii && !utf8.ValidString(topic) {
		return fmt.Errorf("packet: topic name: invalid UTF-8: %w", TopicNameInvalid) // [MQTT-1.5.4-1]
	}
	return nil
}

// ValidateTopicFilter reports whether filter may appear in a SUBSCRIBE or
// UNSUBSCRIBE: it must be non-empty [MQTT-4.7.3-1], well-formed UTF-8 without
// U+0000, fit in 65535 bytes, use '#' only as the whole last level
// [MQTT-4.7.1-1] and '+' only as a whole level [MQTT-4.7.1-2]. A shared
// filter "$share/{ShareName}/{filter}" needs a non-empty ShareName without
// '/', '+' or '#' [MQTT-4.8.2-1] [MQTT-4.8.2-2] and a non-empty, valid filter.
// The error wraps TopicFilterInvalid.
func ValidateTopicFilter(filter string) error {
	if len(filter) > maxStringLen {
		return fmt.Errorf("packet: topic filter: longer than %d bytes: %w", maxStringLen, TopicFilterInvalid)
	}
	if rest, ok := strings.CutPrefix(filter, sharePrefix); ok {
		group, f, found := strings.Cut(rest, "/")
		if !found || group == "" {
			return fmt.Errorf("packet: topic filter %q: missing share name: %w", filter, TopicFilterInvalid) // [MQTT-4.8.2-1]
		}
		if strings.ContainsAny(group, "+#") {
			return fmt.Errorf("packet: topic filter %q: wildcard in share name: %w", filter, TopicFilterInvalid) // [MQTT-4.8.2-2]
		}
		filter = f
	}
	if filter == "" {
		return fmt.Errorf("packet: topic filter: empty: %w", TopicFilterInvalid) // [MQTT-4.7.3-1]
	}
	ascii := true
	for i := 0; i < len(filter); i++ {
		c := filter[i]
		switch {
		case c == '#':
			if i != len(filter)-1 || (i > 0 && filter[i-1] != '/') {
				return fmt.Errorf("packet: topic filter %q: '#' not the whole last level: %w", filter, TopicFilterInvalid) // [MQTT-4.7.1-1]
			}
		case c == '+':
			if (i > 0 && filter[i-1] != '/') || (i < len(filter)-1 && filter[i+1] != '/') {
				return fmt.Errorf("packet: topic filter %q: '+' not a whole level: %w", filter, TopicFilterInvalid) // [MQTT-4.7.1-2]
			}
		case c == 0:
			return fmt.Errorf("packet: topic filter: U+0000: %w", TopicFilterInvalid) // [MQTT-1.5.4-2]
		case c >= 0x80:
			ascii = false
		}
	}
	if !ascii && !utf8.ValidString(filter) {
		return fmt.Errorf("packet: topic filter: invalid UTF-8: %w", TopicFilterInvalid) // [MQTT-1.5.4-1]
	}
	return nil
}

// ParseShared splits a shared subscription's filter "$share/{group}/{filter}"
// into its group and topic filter: "$share/g/a/b" gives "g", "a/b", true. ok
// is false when filter is not of that form with a non-empty group and a
// non-empty filter. ParseShared does not validate the parts; call
// ValidateTopicFilter first. The results alias filter.
func ParseShared(filter string) (group, topicFilter string, ok bool) {
	rest, ok := strings.CutPrefix(filter, sharePrefix)
	if !ok {
		return "", "", false
	}
	group, topicFilter, ok = strings.Cut(rest, "/")
	if !ok || group == "" || topicFilter == "" {
		return "", "", false
	}
	return group, topicFilter, true
}
