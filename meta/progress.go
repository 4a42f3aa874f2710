package meta

import (
	"io"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// hashicorp/raft keeps each follower's match index to itself. The leader
// needs it to promote a non-voter only once it has caught up, so the Store
// hands Raft an observedTransport that records, from the answers to the
// leader's own RPCs, when each peer last answered as itself and how far
// its log matches.

// transport is what a Store's Raft transport must offer: the TCP and the
// in-memory transports both do.
type transport interface {
	raft.Transport
	raft.WithPreVote
	raft.WithClose
}

// peerProgress is what this node, as leader in Term, last heard from one
// peer.
type peerProgress struct {
	Term    uint64    // the leader term of the RPCs it answered
	Contact time.Time // when it last answered, under its own ID
	Match   uint64    // the highest log index known to match the leader's
}

// progressBook records peers' answers. It is safe for concurrent use.
type progressBook struct {
	mu    sync.Mutex
	peers map[raft.ServerID]peerProgress
}

func newProgressBook() *progressBook {
	return &progressBook{peers: map[raft.ServerID]peerProgress{}}
}

// get returns what is known of peer id.
func (b *progressBook) get(id raft.ServerID) peerProgress {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peers[id]
}

// keepOnly forgets the peers for which keep is false.
func (b *progressBook) keepOnly(keep func(raft.ServerID) bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id := range b.peers {
		if !keep(id) {
			delete(b.peers, id)
		}
	}
}

// answered records that peer id answered an RPC of term with header h in
// term respTerm, and that its log matches up to match when ok (a
// successful append). An answer under another ID (the address is some
// other node's) or from another term is not the peer's progress.
func (b *progressBook) answered(id raft.ServerID, h raft.RPCHeader, term, respTerm uint64, ok bool, match uint64) {
	if string(h.ID) != string(id) || respTerm != term {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.peers[id]
	if p.Term != term {
		p = peerProgress{Term: term}
	}
	p.Contact = time.Now()
	if ok {
		p.Match = max(p.Match, match)
	}
	b.peers[id] = p
}

// appended records the answer to an AppendEntries.
func (b *progressBook) appended(id raft.ServerID, req *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) {
	match := req.PrevLogEntry
	if n := len(req.Entries); n > 0 {
		match = req.Entries[n-1].Index
	}
	b.answered(id, resp.RPCHeader, req.Term, resp.Term, resp.Success, match)
}

// observedTransport is the transport Raft runs on: the Store's, recording
// the answers to AppendEntries (plain and pipelined) and InstallSnapshot
// in a progressBook.
type observedTransport struct {
	transport
	book *progressBook
}

// AppendEntries sends an AppendEntries and records the answer.
func (t *observedTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	err := t.transport.AppendEntries(id, target, args, resp)
	if err == nil {
		t.book.appended(id, args, resp)
	}
	return err
}

// InstallSnapshot sends a snapshot and records the answer.
func (t *observedTransport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	err := t.transport.InstallSnapshot(id, target, args, resp, data)
	if err == nil {
		t.book.answered(id, resp.RPCHeader, args.Term, resp.Term, resp.Success, args.LastLogIndex)
	}
	return err
}

// AppendEntriesPipeline opens a pipeline whose answers are recorded.
func (t *observedTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	p, err := t.transport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	o := &observedPipeline{AppendPipeline: p, out: make(chan raft.AppendFuture, pipelineBuffer), stop: make(chan struct{})}
	go o.relay(id, t.book)
	return o, nil
}

// pipelineBuffer is the number of answered futures a pipeline holds for
// Raft (the TCP transport allows 128 in flight).
const pipelineBuffer = 128

// observedPipeline relays a pipeline's answered futures to Raft, recording
// each on the way.
type observedPipeline struct {
	raft.AppendPipeline
	out  chan raft.AppendFuture
	stop chan struct{}
	once sync.Once
}

// relay runs until Close.
func (o *observedPipeline) relay(id raft.ServerID, book *progressBook) {
	in := o.AppendPipeline.Consumer()
	for {
		select {
		case f, ok := <-in:
			if !ok {
				return
			}
			if f.Error() == nil {
				book.appended(id, f.Request(), f.Response())
			}
			select {
			case o.out <- f:
			case <-o.stop:
				return
			}
		case <-o.stop:
			return
		}
	}
}

// Consumer returns the answered futures.
func (o *observedPipeline) Consumer() <-chan raft.AppendFuture { return o.out }

// Close stops the relay and closes the pipeline.
func (o *observedPipeline) Close() error {
	o.once.Do(func() { close(o.stop) })
	return o.AppendPipeline.Close()
}
