// Package aclfile reads topic access rules written in Mosquitto's acl_file
// syntax and enforces them as a broker.Authorizer and a
// broker.ReadAuthorizer.
//
// # Syntax
//
// The file is read line by line. Blank lines and lines whose first
// non-blank character is '#' are ignored; there are no trailing comments.
// Every other line is one of:
//
//	topic [read|write|readwrite|deny] TOPIC
//	pattern [read|write|readwrite|deny] TOPIC
//	user NAME
//
// The access word is optional and defaults to readwrite. If a line has more
// than one word after "topic" or "pattern", the first must be an access word
// and the rest of the line is the topic filter (so it may contain spaces).
// TOPIC is an MQTT topic filter: '+' and '#' must fill a whole level, and '#'
// must be the last level.
//
// "topic" lines before the first "user" line apply to anonymous clients
// (those with an empty user name). "user NAME" starts the section of that
// user: the "topic" lines after it, up to the next "user" line, apply to
// clients authenticated as NAME. Sections for the same NAME add up.
//
// "pattern" lines apply to every client wherever they appear in the file.
// In them "%u" stands for the client's user name and "%c" for its client
// identifier; a pattern using "%u" never applies to an anonymous client.
// When some pattern uses "%u" (or "%c"), a client whose user name (or
// client identifier) contains '/', '+' or '#' is refused everything, since
// substituting it would reach into other clients' topics (this follows
// Mosquitto's fix for CVE-2017-7650).
//
// # Semantics
//
// A client may publish to topic T if some rule that applies to it with write
// or readwrite access matches T, and no deny rule that applies to it matches
// T. Everything not granted is refused.
//
// A client may subscribe to filter F if F is covered by (is a subset of)
// some applicable read or readwrite rule, and F is not covered by any
// applicable deny rule. Coverage is decided level by level: a rule level '#'
// covers the rest of the filter, including nothing; '+' covers one filter
// level that is a literal or '+', never '#'; a literal covers only the same
// literal; a filter level '#' is covered only by a rule level '#'. A rule
// whose first level is a wildcard covers no filter, and matches no topic,
// starting with '$' [MQTT-4.7.1-1]. Shared subscriptions
// ($share/GROUP/FILTER) are checked on FILTER.
//
// Read access is checked at SUBSCRIBE as above and, like Mosquitto, again
// for every delivered message where it matters: when some applicable deny
// rule overlaps a granted filter (some topic matches both), CheckReads
// tells the broker so, and each message delivered through that
// subscription is passed to CanRead, which applies the rules to its topic
// name as a read. With "topic read #" and "topic deny test/nosubscribe",
// subscribing to "test/nosubscribe" is refused, while subscribing to "#"
// is allowed and receives every message except those published to
// "test/nosubscribe". Subscriptions no deny rule overlaps cost nothing per
// message.
//
// An ACL is immutable once parsed and safe for concurrent use; to change the
// rules, parse a new file and swap it in.
package aclfile
