package meta

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc64"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Files of a Raft data directory (Config.Dir).
const (
	// LogFile holds the Raft log and the stable store (term and vote).
	LogFile = "raft.db"
	// SnapshotsDir holds the Raft snapshots, one directory each.
	SnapshotsDir = "snapshots"
)

// Errors of InspectDir.
var (
	// ErrDamaged is matched by InspectDir's errors about Raft data that
	// cannot be read, or whose log and snapshots do not fit together.
	ErrDamaged = errors.New("damaged")
	// ErrInUse is matched when another process has raft.db open.
	ErrInUse = errors.New("in use by another process")
)

// inspectLockTimeout bounds the wait for raft.db's lock in InspectDir.
const inspectLockTimeout = time.Second

// DiskState is what a Raft data directory holds, as InspectDir read it.
type DiskState struct {
	// LogExists and LogSize: raft.db is there, and its size in bytes.
	LogExists bool
	LogSize   int64
	// Term is the current term saved in raft.db; 0 when none is.
	Term uint64
	// FirstIndex and LastIndex bound the entries in raft.db (0 and 0 when
	// it holds none).
	FirstIndex, LastIndex uint64
	// SnapshotDirs counts the snapshot directories (readable or not), and
	// SnapshotIndex is the last index of the newest snapshot Raft would
	// restore (0 if none).
	SnapshotDirs  int
	SnapshotIndex uint64
	// Servers is the latest Raft configuration (committed or not) found in
	// the log and the snapshot, sorted by ID; Role is empty.
	Servers []Server

	snapshot string     // the state.bin of the snapshot at SnapshotIndex
	commands []raft.Log // the command entries after SnapshotIndex
	lastCfg  *raft.Configuration
}

// HasState reports whether the directory holds Raft state: a term, log
// entries or snapshots.
func (d DiskState) HasState() bool {
	return d.Term > 0 || d.LastIndex > 0 || d.SnapshotDirs > 0
}

// HasServer reports whether the latest configuration lists the server id.
func (d DiskState) HasServer(id string) bool {
	for _, s := range d.Servers {
		if s.ID == id {
			return true
		}
	}
	return false
}

// InspectDir reads the Raft data in dir (Config.Dir) without modifying
// it, and checks that Open can start on it: raft.db must be a sound bolt
// file (meta pages, freelist, every page of its tree, as bbolt's Tx.Check
// would check them) whose log entries all decode and follow each other,
// and the newest snapshot Raft would restore must be readable and reach
// the log's first entry. A missing or empty raft.db is reported in
// DiskState, not as an error. Errors match ErrDamaged or ErrInUse, name
// the file, and are one line; InspectDir never panics on a damaged file
// (bbolt and raft would, or fault on a truncated one). It blocks for up to
// a second when raft.db is locked.
func InspectDir(dir string) (DiskState, error) {
	var d DiskState
	snaps, err := readSnapshots(filepath.Join(dir, SnapshotsDir), &d)
	if err != nil {
		return d, err
	}
	path := filepath.Join(dir, LogFile)
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return d, nil
	case err != nil:
		return d, fmt.Errorf("%s: %w", path, err)
	}
	d.LogExists, d.LogSize = true, fi.Size()
	if d.LogSize == 0 {
		return d, nil
	}
	var initialized bool
	if err := protect(func() (err error) { initialized, err = walkBolt(path, d.LogSize); return err }); err != nil {
		return d, classify(path, err)
	}
	if !initialized { // created, but raft-boltdb never made its buckets: no Raft state
		return d, nil
	}
	if err := protect(func() error { return readLog(path, &d) }); err != nil {
		return d, classify(path, err)
	}
	if d.LastIndex > 0 && d.Term == 0 {
		return d, damaged(path, errors.New("log entries without a current term"))
	}
	if d.LastIndex > 0 && d.FirstIndex > d.SnapshotIndex+1 {
		what := "there is no snapshot"
		if d.SnapshotIndex > 0 {
			what = fmt.Sprintf("the newest snapshot Raft can restore (of %d) ends at index %d", snaps, d.SnapshotIndex)
		}
		return d, damaged(dir, fmt.Errorf("%s starts at index %d but %s in %s: entries %d to %d are missing",
			LogFile, d.FirstIndex, what, SnapshotsDir, d.SnapshotIndex+1, d.FirstIndex-1))
	}
	if d.lastCfg != nil {
		d.Servers = servers(*d.lastCfg)
	}
	return d, nil
}

// readSnapshots finds the snapshot Raft would restore, as raft's
// FileSnapshotStore does: the newest of the snapshotRetain newest with
// readable metadata whose state matches its CRC. It returns how many
// snapshots have readable metadata.
func readSnapshots(dir string, d *DiskState) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("%s: %w", dir, err)
	}
	type snap struct {
		raft.SnapshotMeta
		CRC []byte
	}
	var metas []snap
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		d.SnapshotDirs++
		var s snap
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "meta.json"))
		if err == nil && json.Unmarshal(b, &s) == nil && s.Version <= raft.SnapshotVersionMax {
			metas = append(metas, s)
		}
	}
	sort.Slice(metas, func(i, j int) bool {
		a, b := metas[i], metas[j]
		if a.Term != b.Term {
			return a.Term > b.Term
		}
		if a.Index != b.Index {
			return a.Index > b.Index
		}
		return a.ID > b.ID
	})
	for _, s := range metas[:min(len(metas), snapshotRetain)] {
		state := filepath.Join(dir, s.ID, "state.bin")
		if sum := crcOf(state); sum == nil || !bytes.Equal(sum, s.CRC) {
			continue
		}
		d.SnapshotIndex, d.snapshot = s.Index, state
		cfg := s.Configuration
		d.lastCfg = &cfg
		return len(metas), nil
	}
	if len(metas) > 0 { // raft would fail with "failed to load any existing snapshots"
		return len(metas), damaged(dir, fmt.Errorf("none of the %d newest snapshots can be read (state missing or not matching its CRC)",
			min(len(metas), snapshotRetain)))
	}
	return 0, nil // raft ignores directories without readable metadata
}

// crcOf is the CRC-64 (ECMA) of the file at path, nil if unreadable.
func crcOf(path string) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	h := crc64.New(crc64.MakeTable(crc64.ECMA))
	if _, err := io.Copy(h, f); err != nil {
		return nil
	}
	return h.Sum(nil)
}

// bbolt's on-disk layout (go.etcd.io/bbolt v1.3: page.go, node.go,
// bucket.go, db.go). checkBolt reads it from the file, not mapped, before
// bbolt touches it: bbolt panics (or faults, past the end of a truncated
// file) on what this reports, and its Tx.Check does so in a goroutine of
// its own, where no recover can catch it.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	boltPageHeader   = 16 // id uint64, flags uint16, count uint16, overflow uint32
	boltElement      = 16 // a branch or leaf element
	boltMetaSize     = 56 // magic … txid, then the checksum
	boltBranchFlag   = 0x01
	boltLeafFlag     = 0x02
	boltFreelistFlag = 0x10
	boltBucketFlag   = 0x01 // of a leaf element: the value is a bucket
	boltBucketHeader = 16   // root pgid uint64, sequence uint64
	boltNoFreelist   = ^uint64(0)
	boltMaxDepth     = 64
)

// boltMeta is the part of a bolt meta page checkBolt uses.
type boltMeta struct {
	pageSize             uint32
	root, freelist, pgid uint64
	txid                 uint64
}

// boltFile is a bolt file being checked.
type boltFile struct {
	f     *os.File
	size  int64
	meta  boltMeta
	freed map[uint64]bool
	seen  map[uint64]bool
}

// checkBolt checks raft.db as bbolt's Tx.Check does, and more: the meta
// pages, that the file holds every page they account for, the freelist,
// then every page of the tree of buckets (its id, type, elements and
// children in range, referenced once, not free), and that every page is
// either reachable or free.
func checkBolt(path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	b := &boltFile{f: f, size: size, freed: map[uint64]bool{}, seen: map[uint64]bool{0: true, 1: true}}
	if err := b.readMeta(); err != nil {
		return err
	}
	if err := b.readFreelist(); err != nil {
		return err
	}
	if err := b.walk(b.meta.root, 0); err != nil {
		return err
	}
	for id := uint64(2); id < b.meta.pgid; id++ {
		if !b.seen[id] && !b.freed[id] {
			return fmt.Errorf("page %d: unreachable and not free", id)
		}
	}
	return nil
}

// read reads n bytes at off.
func (b *boltFile) read(off int64, n int) ([]byte, error) {
	buf := make([]byte, n)
	if _, err := b.f.ReadAt(buf, off); err != nil {
		return nil, err
	}
	return buf, nil
}

// readMeta picks the meta page bbolt would (the valid one with the
// highest transaction ID) and checks the file is long enough.
func (b *boltFile) readMeta() error {
	m0, err0 := b.readMetaAt(0)
	pageSize := int64(os.Getpagesize())
	if err0 == nil {
		pageSize = int64(m0.pageSize)
	}
	m1, err1 := b.readMetaAt(pageSize)
	switch {
	case err0 != nil && err1 != nil:
		return fmt.Errorf("not a bolt database, or both meta pages are broken (%v)", err0)
	case err0 != nil:
		b.meta = m1
	case err1 != nil || m0.txid >= m1.txid:
		b.meta = m0
	default:
		b.meta = m1
	}
	m := b.meta
	if need := int64(m.pgid) * int64(m.pageSize); need > b.size {
		return fmt.Errorf("truncated: %d bytes, %d needed for its %d pages", b.size, need, m.pgid)
	}
	if m.root < 2 || m.root >= m.pgid {
		return fmt.Errorf("root page %d out of range", m.root)
	}
	return nil
}

// readMetaAt reads and validates the meta page at off, as bbolt does.
func (b *boltFile) readMetaAt(off int64) (boltMeta, error) {
	buf, err := b.read(off, boltPageHeader+boltMetaSize+8)
	if err != nil {
		return boltMeta{}, err
	}
	ne := binary.NativeEndian
	p := buf[boltPageHeader:]
	if ne.Uint32(p) != boltMagic {
		return boltMeta{}, errors.New("invalid magic")
	}
	if v := ne.Uint32(p[4:]); v != boltVersion {
		return boltMeta{}, fmt.Errorf("bolt version %d", v)
	}
	h := fnv.New64a()
	h.Write(p[:boltMetaSize])
	if sum := ne.Uint64(p[boltMetaSize:]); sum != 0 && sum != h.Sum64() {
		return boltMeta{}, errors.New("meta page checksum mismatch")
	}
	m := boltMeta{pageSize: ne.Uint32(p[8:]), root: ne.Uint64(p[16:]), freelist: ne.Uint64(p[32:]),
		pgid: ne.Uint64(p[40:]), txid: ne.Uint64(p[48:])}
	if m.pageSize < 512 || m.pageSize&(m.pageSize-1) != 0 {
		return boltMeta{}, fmt.Errorf("page size %d", m.pageSize)
	}
	return m, nil
}

// readFreelist reads the free page IDs; bbolt panics with "invalid
// freelist page" on a page of another type.
func (b *boltFile) readFreelist() error {
	m := b.meta
	if m.freelist == boltNoFreelist {
		return nil
	}
	p, err := b.page(m.freelist)
	if err != nil {
		return err
	}
	if p.flags&boltFreelistFlag == 0 {
		return fmt.Errorf("invalid freelist page %d (flags %#x)", m.freelist, p.flags)
	}
	ne := binary.NativeEndian
	count, first := uint64(p.count), uint64(0)
	if count == 0xFFFF {
		count, first = ne.Uint64(p.data[boltPageHeader:]), 1
	}
	if (first+count)*8 > uint64(len(p.data)-boltPageHeader) {
		return fmt.Errorf("freelist page %d: %d entries overflow it", m.freelist, count)
	}
	for i := range count {
		id := ne.Uint64(p.data[boltPageHeader+(first+i)*8:])
		if id < 2 || id >= m.pgid || b.freed[id] {
			return fmt.Errorf("freelist page %d: free page %d out of range or listed twice", m.freelist, id)
		}
		b.freed[id] = true
	}
	for i := m.freelist; i <= m.freelist+uint64(p.overflow); i++ {
		b.seen[i] = true // reachable, free or not (as Tx.Check has it)
	}
	return nil
}

// boltPage is one page (with its overflow pages) read from the file.
type boltPage struct {
	flags, count uint16
	overflow     uint32
	data         []byte // header included
}

// page reads page id, checking that it is in range and says it is.
func (b *boltFile) page(id uint64) (boltPage, error) {
	ps := int64(b.meta.pageSize)
	if id < 2 || id >= b.meta.pgid {
		return boltPage{}, fmt.Errorf("page %d out of range (%d pages)", id, b.meta.pgid)
	}
	head, err := b.read(int64(id)*ps, boltPageHeader)
	if err != nil {
		return boltPage{}, fmt.Errorf("page %d: %w", id, err)
	}
	ne := binary.NativeEndian
	p := boltPage{flags: ne.Uint16(head[8:]), count: ne.Uint16(head[10:]), overflow: ne.Uint32(head[12:])}
	if got := ne.Uint64(head); got != id {
		return boltPage{}, fmt.Errorf("page %d: its header says page %d", id, got)
	}
	if id+uint64(p.overflow) >= b.meta.pgid {
		return boltPage{}, fmt.Errorf("page %d: %d overflow pages run past the end", id, p.overflow)
	}
	if p.data, err = b.read(int64(id)*ps, int(ps)*(int(p.overflow)+1)); err != nil {
		return boltPage{}, fmt.Errorf("page %d: %w", id, err)
	}
	return p, nil
}

// mark records pages id to id+overflow as reachable, once.
func (b *boltFile) mark(id uint64, overflow uint32) error {
	for i := id; i <= id+uint64(overflow); i++ {
		switch {
		case b.seen[i]:
			return fmt.Errorf("page %d: referenced twice", i)
		case b.freed[i]:
			return fmt.Errorf("page %d: reachable and free", i)
		}
		b.seen[i] = true
	}
	return nil
}

// walk checks the branch or leaf page id and what it references.
func (b *boltFile) walk(id uint64, depth int) error {
	if depth > boltMaxDepth {
		return fmt.Errorf("page %d: tree deeper than %d", id, boltMaxDepth)
	}
	p, err := b.page(id)
	if err != nil {
		return err
	}
	if err := b.mark(id, p.overflow); err != nil {
		return err
	}
	switch p.flags {
	case boltBranchFlag:
		if err := elementsFit(p, id); err != nil {
			return err
		}
		ne := binary.NativeEndian
		for i := range int(p.count) {
			e := p.data[boltPageHeader+i*boltElement:]
			pos, ksize := uint64(ne.Uint32(e)), uint64(ne.Uint32(e[4:]))
			if end := uint64(boltPageHeader+i*boltElement) + pos + ksize; end > uint64(len(p.data)) {
				return fmt.Errorf("page %d: key %d runs past the page", id, i)
			}
			if err := b.walk(ne.Uint64(e[8:]), depth+1); err != nil {
				return err
			}
		}
		return nil
	case boltLeafFlag:
		return b.leaf(p, id, depth)
	}
	return fmt.Errorf("page %d: not a branch or leaf page (flags %#x)", id, p.flags)
}

// leaf checks the elements of a leaf page (id 0: inline in a bucket
// value) and the buckets they hold.
func (b *boltFile) leaf(p boltPage, id uint64, depth int) error {
	if err := elementsFit(p, id); err != nil {
		return err
	}
	ne := binary.NativeEndian
	for i := range int(p.count) {
		e := p.data[boltPageHeader+i*boltElement:]
		flags, pos := ne.Uint32(e), uint64(ne.Uint32(e[4:]))
		ksize, vsize := uint64(ne.Uint32(e[8:])), uint64(ne.Uint32(e[12:]))
		start := uint64(boltPageHeader+i*boltElement) + pos + ksize
		end := start + vsize
		if end > uint64(len(p.data)) || end < start {
			return fmt.Errorf("page %d: element %d runs past the page", id, i)
		}
		if flags&boltBucketFlag == 0 {
			continue
		}
		v := p.data[start:end]
		if len(v) < boltBucketHeader {
			return fmt.Errorf("page %d: bucket %d: short header", id, i)
		}
		if root := ne.Uint64(v); root != 0 {
			if err := b.walk(root, depth+1); err != nil {
				return err
			}
			continue
		}
		inline := v[boltBucketHeader:]
		if len(inline) < boltPageHeader {
			return fmt.Errorf("page %d: bucket %d: short inline page", id, i)
		}
		ip := boltPage{flags: ne.Uint16(inline[8:]), count: ne.Uint16(inline[10:]), data: inline}
		if ip.flags != boltLeafFlag || depth >= boltMaxDepth {
			return fmt.Errorf("page %d: bucket %d: invalid inline page", id, i)
		}
		if err := b.leaf(ip, id, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// elementsFit checks that a page's element headers fit in it.
func elementsFit(p boltPage, id uint64) error {
	if boltPageHeader+int(p.count)*boltElement > len(p.data) {
		return fmt.Errorf("page %d: %d elements overflow it", id, p.count)
	}
	return nil
}

// walkBolt opens raft.db read-only (so holding its shared lock: no
// process writes it meanwhile), checks it (checkBolt), then reads every
// key of every bucket through bbolt, checking that the log's keys are
// consecutive indexes. It reports whether raft-boltdb's buckets exist.
func walkBolt(path string, size int64) (initialized bool, err error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: inspectLockTimeout})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return false, err
		}
		if cerr := checkBolt(path, size); cerr != nil {
			return false, cerr // says more than "invalid database"
		}
		return false, err
	}
	defer db.Close()
	if err := checkBolt(path, size); err != nil {
		return false, err
	}
	return initialized, db.View(func(tx *bbolt.Tx) error {
		initialized = tx.Bucket([]byte("logs")) != nil && tx.Bucket([]byte("conf")) != nil
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			var prev uint64
			return b.ForEach(func(k, v []byte) error {
				if string(name) != "logs" {
					return nil
				}
				if len(k) != 8 {
					return fmt.Errorf("log key %x: not an index", k)
				}
				i := binary.BigEndian.Uint64(k)
				if prev != 0 && i != prev+1 {
					return fmt.Errorf("log entries %d to %d are missing", prev+1, i-1)
				}
				prev = i
				return nil
			})
		})
	})
}

// readLog reads the term and every entry of raft.db through raft-boltdb
// (read-only), keeping the latest configuration and the command entries
// after the snapshot.
func readLog(path string, d *DiskState) error {
	store, err := raftboltdb.New(raftboltdb.Options{Path: path,
		BoltOptions: &bbolt.Options{ReadOnly: true, Timeout: inspectLockTimeout}})
	if err != nil {
		return err
	}
	defer store.Close()
	if d.Term, err = store.GetUint64([]byte("CurrentTerm")); err != nil && !errors.Is(err, raftboltdb.ErrKeyNotFound) {
		return fmt.Errorf("current term: %w", err)
	}
	if d.FirstIndex, err = store.FirstIndex(); err != nil {
		return err
	}
	if d.LastIndex, err = store.LastIndex(); err != nil {
		return err
	}
	for i := d.FirstIndex; i > 0 && i <= d.LastIndex; i++ {
		var l raft.Log
		if err := store.GetLog(i, &l); err != nil {
			return fmt.Errorf("log entry %d: %w", i, err)
		}
		if l.Index != i {
			return fmt.Errorf("log entry %d holds index %d", i, l.Index)
		}
		if i <= d.SnapshotIndex {
			continue
		}
		switch l.Type {
		case raft.LogConfiguration:
			cfg := raft.DecodeConfiguration(l.Data) // panics on garbage: recovered by protect
			d.lastCfg = &cfg
		case raft.LogCommand:
			d.commands = append(d.commands, l)
		}
	}
	return nil
}

// protect runs fn, turning its panics, and the memory faults of reading a
// damaged mapped file, into errors.
func protect(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return fn()
}

// classify turns an error of reading raft.db into InspectDir's.
func classify(path string, err error) error {
	if errors.Is(err, bbolt.ErrTimeout) {
		return fmt.Errorf("%s: %w", path, ErrInUse)
	}
	return damaged(path, err)
}

// damaged is an ErrDamaged error about path, on one line.
func damaged(path string, err error) error {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	return fmt.Errorf("%s: %w: %s", path, ErrDamaged, msg)
}

// servers is c as Servers, sorted by ID.
func servers(c raft.Configuration) []Server {
	out := make([]Server, 0, len(c.Servers))
	for _, s := range c.Servers {
		out = append(out, Server{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// LocalState rebuilds, without Raft, the state the directory InspectDir
// read holds up to index upTo: the snapshot Raft would restore, then the
// command entries after it, up to upTo, applied in order. Raft does not
// record which entries are committed; pass the index this node had
// applied (committed entries only), at least SnapshotIndex. It serves a
// node that knows no leader, until Raft replays the same entries.
func (d DiskState) LocalState(upTo uint64) (State, error) {
	f := NewFSM(nil)
	if d.snapshot != "" {
		file, err := os.Open(d.snapshot)
		if err != nil {
			return State{}, fmt.Errorf("meta: local state: %w", err)
		}
		if err := f.Restore(file); err != nil {
			return State{}, fmt.Errorf("meta: local state: %s: %w", d.snapshot, err)
		}
	}
	for i := range d.commands {
		if d.commands[i].Index > upTo {
			break
		}
		if err := protect(func() error { f.Apply(&d.commands[i]); return f.Err() }); err != nil {
			return State{}, fmt.Errorf("meta: local state: entry %d: %w", d.commands[i].Index, err)
		}
	}
	return f.State(), nil
}

// ElectSoleVoter makes a node that is the only voter of its Raft
// configuration stand for election now, rather than after the heartbeat
// timeout (a random 1 to 2 s by default): a single node then leads within
// milliseconds of Open. It reports whether it did; it does nothing on a
// node that is not a follower, or whose configuration has other voters or
// does not list it. Raft has no call to start an election: a ReloadConfig
// with a shorter HeartbeatTimeout wakes the follower's heartbeat timer,
// and a follower that never heard from a leader then stands. The
// configured timeout is restored at once. It does not block.
func (s *Store) ElectSoleVoter() (bool, error) {
	if s.raft.State() != raft.Follower {
		return false, nil
	}
	fut := s.raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return false, s.raftError("get configuration", err)
	}
	voters, self := 0, false
	for _, srv := range fut.Configuration().Servers {
		if srv.Suffrage == raft.Voter {
			voters++
			self = self || srv.ID == raft.ServerID(s.cfg.NodeID)
		}
	}
	rc := s.raft.ReloadableConfig()
	if voters != 1 || !self || s.cfg.LeaderLeaseTimeout >= rc.HeartbeatTimeout {
		return false, nil
	}
	wake := rc
	wake.HeartbeatTimeout = s.cfg.LeaderLeaseTimeout // the shortest valid
	if err := s.raft.ReloadConfig(wake); err != nil {
		return false, fmt.Errorf("meta: elect: %w", err)
	}
	if err := s.raft.ReloadConfig(rc); err != nil {
		return true, fmt.Errorf("meta: elect: restore the heartbeat timeout: %w", err)
	}
	return true, nil
}
