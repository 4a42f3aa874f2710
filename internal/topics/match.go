package topics

import "strings"

// sharePrefix starts a shared subscription filter: $share/{ShareName}/{filter}.
const sharePrefix = "$share/"

// maxStackLevels is how many levels a topic may have before tokenizing it
// allocates.
const maxStackLevels = 32

// MatchFilter reports whether the topic name matches the topic filter under
// MQTT rules, including [MQTT-4.7.1-1] ('$' topics are not matched by a
// leading wildcard). It does not strip a $share prefix (see SplitShared). It
// never allocates and never panics.
func MatchFilter(filter, topic string) bool {
	if topic != "" && topic[0] == '$' {
		first := filter
		if i := strings.IndexByte(filter, '/'); i >= 0 {
			first = filter[:i]
		}
		if first == "+" || first == "#" { // [MQTT-4.7.1-1]
			return false
		}
	}
	fi, ti := 0, 0 // start of the current level; ti < 0 once the topic is used up
	for {
		fend := strings.IndexByte(filter[fi:], '/')
		if fend < 0 {
			fend = len(filter)
		} else {
			fend += fi
		}
		level := filter[fi:fend]
		lastFilter := fend == len(filter)
		if level == "#" {
			return lastFilter // the parent and any number of children [MQTT-4.7.1-2]
		}
		if ti < 0 {
			return false
		}
		tend := strings.IndexByte(topic[ti:], '/')
		if tend < 0 {
			tend = len(topic)
		} else {
			tend += ti
		}
		if level != "+" && level != topic[ti:tend] {
			return false
		}
		lastTopic := tend == len(topic)
		if lastFilter {
			return lastTopic
		}
		fi = fend + 1
		if lastTopic {
			ti = -1
		} else {
			ti = tend + 1
		}
	}
}

// SplitShared splits a shared subscription filter "$share/{group}/{filter}"
// into its group name and inner filter. It returns ok false, and the filter
// unchanged, when filter has no $share prefix or no '/' after the group name.
func SplitShared(filter string) (group, inner string, ok bool) {
	if !strings.HasPrefix(filter, sharePrefix) {
		return "", filter, false
	}
	rest := filter[len(sharePrefix):]
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return "", filter, false
	}
	return rest[:i], rest[i+1:], true
}

// split appends the '/'-separated levels of s to dst and returns it. Pass a
// slice of a stack array so that up to its capacity nothing is allocated.
func split(s string, dst []string) []string {
	for {
		i := strings.IndexByte(s, '/')
		if i < 0 {
			return append(dst, s)
		}
		dst = append(dst, s[:i])
		s = s[i+1:]
	}
}

// hasWildcard reports whether filter may contain a wildcard level; a false
// answer means it matches exactly one topic name, itself.
func hasWildcard(filter string) bool {
	return strings.ContainsAny(filter, "+#")
}
