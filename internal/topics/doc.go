// Package topics matches MQTT topic names against topic filters: a
// subscription Trie (plain and shared subscriptions) and a Retained store of
// one value per topic name.
//
// Matching follows MQTT 3.1.1 and 5.0 section 4.7: levels are separated by
// '/', empty levels are real levels, '+' matches exactly one level (possibly
// empty), '#' as the last level matches its parent level and any number of
// child levels, and a filter whose first level is a wildcard does not match a
// topic name starting with '$' [MQTT-4.7.1-1]. Callers validate filters and
// topic names; on any other string the package never panics and behaves as
// MatchFilter does (a '#' level that is not last matches nothing; '+' or '#'
// inside a longer level is literal).
//
// The Trie follows nats' sublist: one RWMutex per Trie, a map of literal
// children plus dedicated '+' and '#' children at each level, tokens in a
// [32]string stack array (a slice beyond 32 levels), and a bounded cache of
// match results per topic name. A subscription change drops only the cached
// results its filter matches and bumps Trie.Generation, which backs
// per-connection caches. Results are immutable snapshots, so a cached Match
// returns a shared pointer and allocates nothing.
//
// The package imports only the standard library.
package topics
