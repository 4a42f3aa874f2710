package topics

import "errors"

// ErrCacheSize reports a negative Config.CacheSize.
var ErrCacheSize = errors.New("topics: cache size must not be negative")

// Config tunes a Trie. Start from DefaultConfig; the zero value disables the
// match cache.
type Config struct {
	// CacheSize is the largest number of topic names whose match results the
	// Trie keeps; 0 disables the cache. Default 4096.
	CacheSize int `json:"cache_size"`
}

// DefaultConfig returns the configuration New uses when given no options.
func DefaultConfig() Config {
	return Config{CacheSize: 4096}
}

// Validate reports whether c can be used; New clamps what Validate rejects.
func (c Config) Validate() error {
	if c.CacheSize < 0 {
		return ErrCacheSize
	}
	return nil
}

// Option changes the Config that New starts from (DefaultConfig).
type Option func(*Config)

// WithConfig makes New use cfg instead of DefaultConfig. New copies cfg.
func WithConfig(cfg Config) Option {
	return func(c *Config) { *c = cfg }
}

// WithCacheSize sets Config.CacheSize; 0 disables the match cache.
func WithCacheSize(n int) Option {
	return func(c *Config) { c.CacheSize = n }
}
