package node

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jmqx/jmqx/meta"
)

// Files in DataDir besides the Raft directory.
const (
	idFile    = "node-id"
	raftDir   = "raft"
	portsFile = "ports.json"
	lockFile  = "LOCK"
	// firstStartFile marks a first start that has not completed: it is
	// written before the node creates its Raft state and removed once the
	// node has bootstrapped (default tenant included) or joined.
	firstStartFile = "first-start"
)

// maxIDLen bounds a node ID.
const maxIDLen = 256

// dataDir is what Start found in Config.DataDir, checked.
type dataDir struct {
	path string
	id   string         // the node's ID, saved in idFile
	disk meta.DiskState // the Raft data, as meta.InspectDir read it
	// firstStart: the node's first start has not completed, so it
	// bootstraps or joins, or finishes doing so.
	firstStart bool
}

// openDataDir checks the data directory before the control plane opens
// it, and settles the node ID. It refuses, with one line saying what to do:
//   - Raft data that is damaged, or a Raft log (raft/raft.db) that is
//     missing, empty or holds nothing while the directory shows that the
//     node had state: its node-id (outside an unfinished first start),
//     ports.json, applied-index or Raft snapshots. Starting would
//     bootstrap a new, empty cluster or fork this node's history.
//   - a NodeID other than the saved one, and a node-id file that is
//     missing, empty or malformed while the node has state (see settleID).
//   - Join on a directory that holds Raft state, unless the node is a
//     member of a cluster of several servers (see checkJoin).
func openDataDir(cfg Config) (*dataDir, error) {
	dir := cfg.DataDir
	d := &dataDir{path: dir}
	var err error
	d.disk, err = meta.InspectDir(filepath.Join(dir, raftDir))
	switch {
	case errors.Is(err, meta.ErrInUse):
		return nil, fmt.Errorf("node: %w: is another node running on the data folder %s?", err, dir)
	case err != nil:
		return nil, fmt.Errorf("node: cannot start: %w: restore it from a backup, or remove the data folder %s to start a new node (then empty: it bootstraps a new cluster, or joins one with --join)", err, dir)
	}
	d.firstStart = exists(filepath.Join(dir, firstStartFile)) || !d.disk.HasState()
	if err := d.checkRaftLog(); err != nil {
		return nil, err
	}
	if d.id, err = d.settleID(cfg.NodeID); err != nil {
		return nil, err
	}
	if len(cfg.Join) > 0 {
		if err := d.checkJoin(cfg.Join); err != nil {
			return nil, err
		}
	}
	if d.firstStart && !exists(filepath.Join(dir, firstStartFile)) {
		msg := "jmqx: this node's first start has not completed; it bootstraps or joins again at its next start\n"
		if err := writeFileAtomic(filepath.Join(dir, firstStartFile), []byte(msg)); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
	}
	return d, nil
}

// checkRaftLog refuses a Raft log that is missing, empty or without state
// while the directory shows the node had some.
func (d *dataDir) checkRaftLog() error {
	if d.disk.Term > 0 || d.disk.LastIndex > 0 {
		return nil
	}
	var signs []string
	if exists(filepath.Join(d.path, idFile)) && !exists(filepath.Join(d.path, firstStartFile)) {
		signs = append(signs, idFile)
	}
	for _, f := range []string{portsFile, appliedFile} {
		if exists(filepath.Join(d.path, f)) {
			signs = append(signs, f)
		}
	}
	if d.disk.SnapshotDirs > 0 {
		signs = append(signs, "Raft snapshots")
	}
	log := filepath.Join(d.path, raftDir, meta.LogFile)
	var what string
	switch {
	case len(signs) == 0:
		return nil
	case !d.disk.LogExists:
		what = "is missing"
	case d.disk.LogSize == 0:
		what = "is empty"
	case len(signs) == 1 && signs[0] == idFile:
		// A join that never received the cluster's state, or a bootstrap
		// that stopped before writing it: there is nothing to lose.
		return nil
	default:
		what = "holds no Raft state"
	}
	return fmt.Errorf("node: cannot start: the Raft log %s %s, but the data folder %s holds this node's state (%s): "+
		"restore raft/%s from a backup; or, to give up this node's state, remove the data folder and start it again "+
		"(it bootstraps a new, empty cluster, or joins one with --join)",
		log, what, d.path, strings.Join(signs, ", "), meta.LogFile)
}

// settleID returns the node ID, saving it on a first start: want if given,
// else the saved one, else a new random one. A want other than the saved
// ID is refused: Raft knows the node by it. While the node has Raft state,
// a node-id file that is missing, empty or malformed is not replaced by a
// new identity: it is refused, unless want is given and the saved Raft
// configuration lists it (or lists no server).
func (d *dataDir) settleID(want string) (string, error) {
	path := filepath.Join(d.path, idFile)
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("node: node ID: %w", err)
	}
	saved, problem := strings.TrimSpace(string(b)), "missing"
	if err == nil {
		problem = idProblem(saved)
	}
	switch {
	case problem == "" && want != "" && want != saved:
		return "", fmt.Errorf("node: the node ID given, %q, differs from %q saved in %s: a node keeps its ID for life; "+
			"start it with node ID %q (or none), or remove the data folder to start a new node", want, saved, path, saved)
	case problem == "":
		return saved, nil
	case d.disk.HasState() && (want == "" || len(d.disk.Servers) > 0 && !d.disk.HasServer(want)):
		return "", fmt.Errorf("node: cannot start: %s is %s, and the data folder holds this node's Raft state%s: "+
			"start the node with its ID (--node-id), or remove the data folder to start a new node", path, problem, d.knownServers())
	}
	id := want
	if id == "" {
		var r [4]byte
		if _, err := rand.Read(r[:]); err != nil {
			return "", fmt.Errorf("node: node ID: %w", err)
		}
		id = "node-" + hex.EncodeToString(r[:])
	}
	if err := writeFileAtomic(path, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("node: save the node ID: %w", err)
	}
	return id, nil
}

// checkJoin refuses Join on a directory that holds a Raft configuration,
// unless the node is already a member of a cluster of several servers: its
// own latest configuration lists it and at least one other server. Joining
// anything else would merge two Raft histories (a cluster this node
// bootstrapped alone, or one it was removed from). join then checks that
// the node it asks belongs to that same cluster (sameCluster).
func (d *dataDir) checkJoin(join []string) error {
	if len(d.disk.Servers) == 0 { // no history to merge: at most a term, from a join cut short
		return nil
	}
	to := strings.Join(join, ",")
	switch {
	case !d.disk.HasServer(d.id):
		return fmt.Errorf("node: join through %s refused: the data folder %s holds the Raft state of a cluster this node is not a member of%s; "+
			"remove the data folder to join as a new node", to, d.path, d.knownServers())
	case len(d.disk.Servers) == 1:
		return fmt.Errorf("node: join through %s refused: the data folder %s holds a cluster this node bootstrapped, of which it is the only server; "+
			"joining another cluster would merge two Raft histories: start it without join addresses to run that cluster, "+
			"or remove the data folder to join as a new node", to, d.path)
	}
	return nil
}

// knownServers lists the servers of the saved Raft configuration, for
// error messages.
func (d *dataDir) knownServers() string {
	if len(d.disk.Servers) == 0 {
		return ""
	}
	ids := make([]string, 0, len(d.disk.Servers))
	for _, s := range d.disk.Servers {
		ids = append(ids, s.ID+" at "+s.Addr)
	}
	return " (servers: " + strings.Join(ids, ", ") + ")"
}

// firstStartDone records that the first start completed.
func (d *dataDir) firstStartDone() error {
	if !d.firstStart {
		return nil
	}
	if err := os.Remove(filepath.Join(d.path, firstStartFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("node: %w", err)
	}
	d.firstStart = false
	return syncDir(d.path)
}

// idProblem says what is wrong with a node ID, "" if nothing: empty,
// too long, not UTF-8, or holding control characters (a zero-filled
// file after a crash, for one).
func idProblem(id string) string {
	switch {
	case id == "":
		return "empty"
	case len(id) > maxIDLen:
		return fmt.Sprintf("malformed (longer than %d bytes)", maxIDLen)
	case !utf8.ValidString(id):
		return "malformed (not UTF-8)"
	case strings.ContainsFunc(id, unicode.IsControl):
		return fmt.Sprintf("malformed (%q)", id)
	}
	return ""
}

// writeFileAtomic replaces the file at path with data, durably: a
// temporary file, synced, renamed over it, and the directory synced.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a directory's entries durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
