package meta

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"
)

// Drain states of a member (Member.Drain, SetDrain.State). Persisted in
// Raft.
const (
	// DrainNone: the member serves clients.
	DrainNone = ""
	// DrainDraining: the member refuses new connections, sends its clients
	// to other members and hands its sessions over.
	DrainDraining = "draining"
	// DrainDrained: the member holds no client and no forward in flight;
	// it can be removed with nothing lost.
	DrainDrained = "drained"
)

// SetDrain sets the drain state of the member ID, which must exist
// (ErrNotFound): DrainDraining, DrainDrained, or DrainNone to serve
// again.
type SetDrain struct {
	V     int    `json:"v"`
	ID    string `json:"id"`
	State string `json:"state,omitempty"`
}

func (p SetDrain) stamp() (CommandType, any) { p.V = p.minVersion(); return CmdSetDrain, p }
func (p SetDrain) version() int              { return p.V }
func (SetDrain) minVersion() int             { return PayloadVersion }

// check validates the state name and that the member exists.
func (p SetDrain) check(cur *State) error {
	if !validDrain(p.State) {
		return fmt.Errorf("%w: member %q: unknown drain state %q (want %q, %q or none)", ErrInvalid, p.ID, p.State,
			DrainDraining, DrainDrained)
	}
	_, err := applySetDrain(cur, p, 0)
	return err
}

// applySetDrain sets a member's drain state.
func applySetDrain(cur *State, p SetDrain, _ uint64) (*State, error) {
	m, ok := cur.Members[p.ID]
	if !ok {
		return nil, fmt.Errorf("%w: member %q", ErrNotFound, p.ID)
	}
	m.Drain = p.State
	next := cur.clone()
	next.Members = maps.Clone(cur.Members)
	next.Members[p.ID] = m
	return next, nil
}

// validDrain reports whether s is a drain state.
func validDrain(s string) bool {
	return s == DrainNone || s == DrainDraining || s == DrainDrained
}

// withDrain returns m with its drain state set to d.
func (m Member) withDrain(d string) Member {
	m.Drain = d
	return m
}

// ErrSoleVoter: TransferLeadership found no other voter to lead.
var ErrSoleVoter = errors.New("meta: no other voter to take leadership")

// TransferLeadership hands leadership to another voter (the most
// up-to-date one) and waits until some other node leads, or ctx ends. It
// returns the new leader's ID. It succeeds at once, with the leader's ID,
// when this node does not lead, and fails with ErrSoleVoter when no other
// server is a voter.
func (s *Store) TransferLeadership(ctx context.Context) (string, error) {
	if s.IsLeader() {
		servers, err := s.Servers()
		if err != nil {
			return "", err
		}
		if !slices.ContainsFunc(servers, func(srv Server) bool { return srv.Voter && srv.ID != s.cfg.NodeID }) {
			return "", ErrSoleVoter
		}
		if err := s.raft.LeadershipTransfer().Error(); err != nil && err != raft.ErrNotLeader {
			return "", s.raftError("transfer leadership", err)
		}
		s.log.Info("leadership transferred")
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if id, _ := s.Leader(); id != "" && id != s.cfg.NodeID {
			return id, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("meta: wait for another leader: %w", ctx.Err())
		case <-tick.C:
		}
		if s.IsLeader() { // re-elected meanwhile: hand over again
			if err := s.raft.LeadershipTransfer().Error(); err != nil && err != raft.ErrNotLeader {
				s.log.Warn("leadership transfer failed; retrying", zap.Error(err))
			}
		}
	}
}
