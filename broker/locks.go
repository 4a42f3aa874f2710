package broker

// Lock order (acquire top to bottom, never upwards):
//
//	Broker.mu (sessions map, connection set, owned listeners)
//	Broker.bgMu (background goroutine count; AddListener takes it under Broker.mu)
//	session.mu (subscriptions, inflight, queue, link to the client)
//	client.ackMu (a publisher's held-back acknowledgements; flow.go)
//	client.wmu (outbound buffer; outbuf.go)
//	dropLog.mu (sessions with drops this interval; droplog.go)
//	persister.mu (what changed since the last Store write; persist.go)
//
// Budget counters are atomic and taken under any of these. The writer
// goroutine and the drop log's flush take session.mu holding nothing.
// Hooks are called with none of these held, except ReadAuthorizer.CanRead
// (the subscriber's session.mu).
//
// One message's delivery to one session reads top-down in delivery.go;
// the session's queue is in queue.go, its outbound window in window.go,
// byte accounting in hold.go, publisher flow control and slow consumers in
// flow.go.
//
// The subscription trie and retained store have their own locks and are
// never held while a session lock is taken: matches return snapshots.
