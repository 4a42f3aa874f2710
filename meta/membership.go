package meta

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Membership. A node joins as a non-voter (Join): it receives the log but
// counts for no quorum, so a phantom join or a node that advertises an
// address the leader cannot reach never costs the cluster its quorum. The
// leader's membership loop, every membershipInterval, reconciles the Raft
// configuration with the member records:
//
//   - it promotes a non-voter to voter once the non-voter has answered the
//     leader's RPCs at its recorded Raft address under its own ID, within
//     the last HeartbeatTimeout, and its log is within promoteLag entries
//     of the leader's commit index;
//   - it removes a non-voter (and its member record) that has not answered
//     within NonvoterTimeout of this leader seeing it, or that has no
//     member record after as long (a join left half done);
//   - it removes the member records of servers no longer in the
//     configuration (a removal left half done).
//
// Voters are never removed automatically: that takes RemoveServer.

// promoteLag is how far behind the leader's commit index a non-voter's
// log may be when it is promoted.
const promoteLag = 32

// nonvoterSeen is when the leader, in term, first saw a non-voter at addr.
type nonvoterSeen struct {
	term  uint64
	since time.Time
	addr  raft.ServerAddress
}

// Join adds the node m.ID at m.RaftAddr as a non-voter, unless it is in
// the configuration at that address already, and records m as a member.
// The leader promotes it once it has caught up (see WaitVoter). Only the
// leader may (*NotLeaderError otherwise). It refuses (ErrExists) to move a
// voter to another address, and an address another server has. Joining
// again is harmless. It blocks until both changes commit.
func (s *Store) Join(ctx context.Context, m Member) error {
	if m.ID == "" || m.RaftAddr == "" {
		return fmt.Errorf("%w: join: id and raft address are required", ErrInvalid)
	}
	if _, _, err := splitAddr(m.RaftAddr); err != nil {
		return fmt.Errorf("%w: join %q: raft address %q: %v", ErrInvalid, m.ID, m.RaftAddr, err)
	}
	if !s.IsLeader() {
		return s.notLeader()
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	s.memberMu.Lock()
	defer s.memberMu.Unlock()
	cfg, index, err := s.configuration()
	if err != nil {
		return err
	}
	id, addr := raft.ServerID(m.ID), raft.ServerAddress(m.RaftAddr)
	add := true
	for _, srv := range cfg.Servers {
		switch {
		case srv.ID == id && srv.Address == addr:
			add = false
		case srv.ID == id && srv.Suffrage == raft.Voter:
			return fmt.Errorf("%w: node %q is a voter at %s; remove it before it joins at %s", ErrExists, id, srv.Address, addr)
		case srv.ID != id && srv.Address == addr:
			return fmt.Errorf("%w: raft address %s is node %q's", ErrExists, addr, srv.ID)
		}
	}
	if add {
		fut := s.raft.AddNonvoter(id, addr, index, timeoutOf(ctx))
		if err := wait(ctx, fut); err != nil {
			return s.raftError(fmt.Sprintf("add non-voter %s at %s", id, addr), err)
		}
		delete(s.nonvoters, id) // its NonvoterTimeout starts now
		s.log.Info("added a non-voter; it becomes a voter once it has caught up",
			zap.String("id", m.ID), zap.String("raft_addr", m.RaftAddr))
	}
	m.Drain = "" // a join never changes the drain state (see PutMember)
	if cur, ok := s.State().Members[m.ID]; ok && cur == m.withDrain(cur.Drain) {
		return nil
	}
	return s.Apply(ctx, CmdPutMember, PutMember{Member: m})
}

// WaitVoter blocks until this node's configuration has id as a voter, or
// ctx ends.
func (s *Store) WaitVoter(ctx context.Context, id string) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		cfg, _, err := s.configuration()
		if err != nil {
			return err
		}
		for _, srv := range cfg.Servers {
			if string(srv.ID) == id && srv.Suffrage == raft.Voter {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("meta: wait for %s to become a voter: %w", id, ctx.Err())
		case <-tick.C:
		}
	}
}

// membershipInterval is how often the leader reconciles membership.
func (s *Store) membershipInterval() time.Duration {
	return min(max(s.cfg.HeartbeatTimeout/4, 10*time.Millisecond), 250*time.Millisecond)
}

// membershipLoop reconciles membership while this node leads, until
// Shutdown. A leader whose FSM stopped hands leadership over instead.
func (s *Store) membershipLoop() {
	defer close(s.loopDone)
	tick := time.NewTicker(s.membershipInterval())
	defer tick.Stop()
	var handedOver uint64 // the term in which leadership was handed over
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
		}
		if !s.IsLeader() {
			continue
		}
		if s.fsm.Err() != nil {
			if term := s.raft.CurrentTerm(); handedOver != term {
				handedOver = term
				err := s.raft.LeadershipTransfer().Error()
				s.log.Warn("this node's control plane stopped; handing leadership over", zap.NamedError("result", err))
			}
			continue
		}
		s.reconcileMembers()
	}
}

// reconcileMembers makes one change, if one is due: a promotion, a
// removal of a non-voter, or the removal of a member record left behind.
func (s *Store) reconcileMembers() {
	s.memberMu.Lock()
	defer s.memberMu.Unlock()
	cfg, index, err := s.configuration()
	if err != nil {
		return
	}
	term, commit, now := s.raft.CurrentTerm(), s.raft.CommitIndex(), time.Now()
	st := s.State()
	inConfig := make(map[raft.ServerID]bool, len(cfg.Servers))
	for _, srv := range cfg.Servers {
		inConfig[srv.ID] = true
	}
	for id := range s.nonvoters {
		if !inConfig[id] {
			delete(s.nonvoters, id)
		}
	}
	s.progress.keepOnly(func(id raft.ServerID) bool { return inConfig[id] })
	for _, srv := range cfg.Servers {
		if srv.Suffrage == raft.Voter || srv.ID == raft.ServerID(s.cfg.NodeID) {
			continue
		}
		seen, ok := s.nonvoters[srv.ID]
		if !ok || seen.term != term || seen.addr != srv.Address {
			seen = nonvoterSeen{term: term, since: now, addr: srv.Address}
			s.nonvoters[srv.ID] = seen
		}
		p := s.progress.get(srv.ID)
		answered := p.Term == term && p.Contact.After(seen.since)
		m, recorded := st.Members[string(srv.ID)]
		recorded = recorded && m.RaftAddr == string(srv.Address)
		switch {
		case recorded && answered && now.Sub(p.Contact) < s.cfg.HeartbeatTimeout && p.Match+promoteLag >= commit:
			err := s.changeConfig(s.raft.AddVoter(srv.ID, srv.Address, index, s.cfg.HeartbeatTimeout*10))
			s.logChange(zap.InfoLevel, "promoted a non-voter that has caught up", srv, err)
			return
		case (!answered || !recorded) && now.Sub(seen.since) >= s.cfg.NonvoterTimeout:
			why := "removed a non-voter that has not answered at its raft address; check its --raft-advertise"
			if answered {
				why = "removed a non-voter without a member record (a join left half done)"
			}
			err := s.changeConfig(s.raft.RemoveServer(srv.ID, index, s.cfg.HeartbeatTimeout*10))
			s.logChange(zap.WarnLevel, why, srv, err)
			if err == nil {
				s.removeRecord(string(srv.ID))
			}
			return
		}
	}
	for _, m := range st.MemberList() {
		if !inConfig[raft.ServerID(m.ID)] {
			s.log.Info("removing the member record of a server no longer in the raft configuration", zap.String("id", m.ID))
			s.removeRecord(m.ID)
			return
		}
	}
}

// changeConfig waits for a configuration change to commit.
func (s *Store) changeConfig(fut raft.IndexFuture) error {
	if err := fut.Error(); err != nil {
		return s.raftError("change configuration", err)
	}
	return nil
}

// logChange logs a membership change at level, or its failure.
func (s *Store) logChange(level zapcore.Level, what string, srv raft.Server, err error) {
	fields := []zap.Field{zap.String("id", string(srv.ID)), zap.String("raft_addr", string(srv.Address))}
	if err != nil {
		s.log.Warn("membership change failed; retrying", append(fields, zap.String("change", what), zap.Error(err))...)
		return
	}
	s.log.Log(level, what, fields...)
}

// removeRecord removes the member record id, if any.
func (s *Store) removeRecord(id string) {
	if _, ok := s.State().Members[id]; !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HeartbeatTimeout*10)
	defer cancel()
	if err := s.Apply(ctx, CmdRemoveMember, RemoveMember{ID: id}); err != nil {
		s.log.Warn("removing a member record failed; retrying", zap.String("id", id), zap.Error(err))
	}
}

// configuration returns the latest Raft configuration and its index.
func (s *Store) configuration() (raft.Configuration, uint64, error) {
	fut := s.raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return raft.Configuration{}, 0, s.raftError("get configuration", err)
	}
	return fut.Configuration(), fut.Index(), nil
}
