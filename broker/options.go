package broker

import "go.uber.org/zap"

// Option configures a Broker at construction.
type Option func(*Broker)

// WithLogger sets the logger (default: zap.NewNop()). The broker names it
// "broker" and tags connections with their client id and remote address.
func WithLogger(l *zap.Logger) Option {
	return func(b *Broker) { b.log = l }
}

// WithHooks adds hooks: values implementing any of Authenticator,
// EnhancedAuthenticator, Authorizer, ReadAuthorizer, ConnectObserver,
// ConnectRefusedObserver, PublishObserver and SubscriptionObserver. New
// fails, with an error naming the value and the method, if CheckHook
// refuses one: it implements none of them, or a method named like a hook
// method has the wrong signature. Hooks of the same kind are called in the
// order given.
func WithHooks(hooks ...any) Option {
	return func(b *Broker) { b.pendingHooks = append(b.pendingHooks, hooks...) }
}

// WithMemoryBudget makes the broker charge, besides its own MaxMemory,
// the shared Budget nb (a node's, shared by all its tenants' brokers).
func WithMemoryBudget(nb *Budget) Option {
	return func(b *Broker) { b.nodeBudget = nb }
}

// WithStore makes the broker keep its persistent sessions and retained
// messages in st: New loads them (failing with st's error when it cannot),
// they are restored before the first connection is served (or by
// Restore), and every change is written in batches (Config.StoreSync,
// Config.StoreInterval). Shutdown writes the last batch and closes st.
func WithStore(st Store) Option {
	return func(b *Broker) { b.store = st }
}
