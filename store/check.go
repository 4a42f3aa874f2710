package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// checkFile checks the structure of the bbolt file f before bbolt maps it:
// bbolt trusts its pages, and on a damaged file it can loop without end
// (a branch page whose child is itself) or allocate without bound (a huge
// free list count), which no recover can stop. checkFile reads the meta
// page bbolt will use and walks the page tree from it and the free list:
// every page is within the file, carries its own id, is of the type its
// place wants, lies on one path only, and holds elements within itself;
// free pages are neither in the tree nor out of range. A file bbolt
// would initialise (empty) passes.
//
// It mirrors bbolt 1.3's on-disk format (native byte order, 16-byte page
// headers); Open's test of damaged files keeps the two in step.
func checkFile(f *os.File) error {
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if info.Size() == 0 {
		return nil
	}
	c := &checker{f: f, size: info.Size()}
	m, err := c.meta()
	if err != nil {
		return err
	}
	c.highWater = m.pgid
	c.seen = make([]bool, m.pgid)
	c.seen[0], c.seen[1] = true, true
	free, err := c.freelist(m.freelist)
	if err != nil {
		return err
	}
	if err := c.walk(m.root, 0); err != nil {
		return err
	}
	for _, id := range free {
		if c.seen[id] {
			return fmt.Errorf("%w: free page %d is in use", errDamaged, id)
		}
	}
	return nil
}

// Errors of checkFile.
var (
	errNotBolt = errors.New("not a bbolt database")
	errDamaged = errors.New("damaged file")
)

// The on-disk format of bbolt 1.3.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16
	elementSize      = 16 // of a branch and of a leaf page element
	metaSize         = 64
	metaChecksumAt   = 56
	bucketHeaderSize = 16
	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01
	noFreelist       = ^uint64(0)
	maxPageSize      = 1 << 20
	maxTreeDepth     = 64
)

var native = binary.NativeEndian

// boltMeta is the part of a bbolt meta page checkFile uses.
type boltMeta struct {
	pageSize                 uint32
	root, freelist, pgid, tx uint64
}

// checker walks one file.
type checker struct {
	f         *os.File
	size      int64
	pageSize  int64
	highWater uint64 // pages in use are below it
	seen      []bool // pages found in use
}

// meta returns the meta page bbolt would use: the valid one with the
// highest transaction id, page 1 found at meta 0's page size (the OS's if
// meta 0 is damaged).
func (c *checker) meta() (boltMeta, error) {
	m0, err0 := c.readMeta(0)
	c.pageSize = int64(os.Getpagesize())
	if err0 == nil {
		c.pageSize = int64(m0.pageSize)
	}
	m1, err1 := c.readMeta(c.pageSize)
	switch {
	case err0 != nil && err1 != nil:
		return boltMeta{}, fmt.Errorf("%w (meta page 0: %v; meta page 1: %v)", errNotBolt, err0, err1)
	case err0 != nil || (err1 == nil && m1.tx > m0.tx):
		m0 = m1
	}
	if m0.pageSize != uint32(c.pageSize) {
		return boltMeta{}, fmt.Errorf("%w: meta pages disagree on the page size", errDamaged)
	}
	if m0.pgid < 2 || m0.pgid > uint64(c.size/c.pageSize) {
		return boltMeta{}, fmt.Errorf("%w: %d pages in use, the file holds %d (truncated?)", errDamaged, m0.pgid, c.size/c.pageSize)
	}
	return m0, nil
}

// readMeta reads and validates the meta page at off.
func (c *checker) readMeta(off int64) (boltMeta, error) {
	b := make([]byte, pageHeaderSize+metaSize)
	if _, err := c.f.ReadAt(b, off); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("file too short")
		}
		return boltMeta{}, err
	}
	b = b[pageHeaderSize:]
	h := fnv.New64a()
	h.Write(b[:metaChecksumAt])
	switch {
	case native.Uint32(b) != boltMagic:
		return boltMeta{}, errors.New("not a bbolt file")
	case native.Uint32(b[4:]) != boltVersion:
		return boltMeta{}, fmt.Errorf("bbolt format version %d", native.Uint32(b[4:]))
	case native.Uint64(b[metaChecksumAt:]) != h.Sum64():
		return boltMeta{}, errors.New("meta page checksum")
	}
	m := boltMeta{pageSize: native.Uint32(b[8:]), root: native.Uint64(b[16:]), freelist: native.Uint64(b[32:]),
		pgid: native.Uint64(b[40:]), tx: native.Uint64(b[48:])}
	if m.pageSize < 512 || m.pageSize > maxPageSize || m.pageSize&(m.pageSize-1) != 0 {
		return boltMeta{}, fmt.Errorf("page size %d", m.pageSize)
	}
	return m, nil
}

// page reads page id (with its overflow pages), checking it is in range,
// not yet seen, and carries its id; it marks it seen.
func (c *checker) page(id uint64) ([]byte, error) {
	if id < 2 || id >= c.highWater {
		return nil, fmt.Errorf("%w: page %d out of range", errDamaged, id)
	}
	if c.seen[id] {
		return nil, fmt.Errorf("%w: page %d in use twice", errDamaged, id)
	}
	p := make([]byte, c.pageSize)
	if _, err := c.f.ReadAt(p, int64(id)*c.pageSize); err != nil {
		return nil, err
	}
	overflow := uint64(native.Uint32(p[12:]))
	if native.Uint64(p) != id || id+overflow >= c.highWater {
		return nil, fmt.Errorf("%w: page %d header", errDamaged, id)
	}
	for i := id; i <= id+overflow; i++ {
		if c.seen[i] {
			return nil, fmt.Errorf("%w: page %d in use twice", errDamaged, i)
		}
		c.seen[i] = true
	}
	if overflow > 0 {
		p = append(p, make([]byte, int64(overflow)*c.pageSize)...)
		if _, err := c.f.ReadAt(p[c.pageSize:], int64(id+1)*c.pageSize); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// freelist reads the free list page's ids.
func (c *checker) freelist(id uint64) ([]uint64, error) {
	if id == noFreelist {
		return nil, fmt.Errorf("%w: no free list", errDamaged)
	}
	p, err := c.page(id)
	if err != nil {
		return nil, err
	}
	if native.Uint16(p[8:]) != freelistPageFlag {
		return nil, fmt.Errorf("%w: page %d is not the free list", errDamaged, id)
	}
	ids, n := p[pageHeaderSize:], uint64(native.Uint16(p[10:]))
	if n == 0xFFFF { // the count is the first id
		if len(ids) < 8 {
			return nil, fmt.Errorf("%w: free list", errDamaged)
		}
		n, ids = native.Uint64(ids), ids[8:]
	}
	if n > uint64(len(ids)/8) {
		return nil, fmt.Errorf("%w: free list of %d pages overflows its page", errDamaged, n)
	}
	free := make([]uint64, n)
	for i := range free {
		free[i] = native.Uint64(ids[8*i:])
		if free[i] < 2 || free[i] >= c.highWater {
			return nil, fmt.Errorf("%w: free page %d out of range", errDamaged, free[i])
		}
	}
	return free, nil
}

// walk checks the tree of pages under page id, depth levels down.
func (c *checker) walk(id uint64, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("%w: tree deeper than %d", errDamaged, maxTreeDepth)
	}
	p, err := c.page(id)
	if err != nil {
		return err
	}
	switch native.Uint16(p[8:]) {
	case branchPageFlag:
		n := int(native.Uint16(p[10:]))
		if n == 0 || pageHeaderSize+n*elementSize > len(p) {
			return fmt.Errorf("%w: branch page %d count", errDamaged, id)
		}
		for i := range n {
			e := pageHeaderSize + i*elementSize
			if !within(p, e, native.Uint32(p[e:]), native.Uint32(p[e+4:])) {
				return fmt.Errorf("%w: branch page %d element %d", errDamaged, id, i)
			}
			if err := c.walk(native.Uint64(p[e+8:]), depth+1); err != nil {
				return err
			}
		}
		return nil
	case leafPageFlag:
		return c.leaf(p, id, depth, true)
	}
	return fmt.Errorf("%w: page %d is neither a branch nor a leaf", errDamaged, id)
}

// leaf checks leaf page p (page id, or an inline bucket's when nested is
// false) and the buckets it holds.
func (c *checker) leaf(p []byte, id uint64, depth int, nested bool) error {
	if len(p) < pageHeaderSize || native.Uint16(p[8:]) != leafPageFlag {
		return fmt.Errorf("%w: page %d is not a leaf", errDamaged, id)
	}
	n := int(native.Uint16(p[10:]))
	if pageHeaderSize+n*elementSize > len(p) {
		return fmt.Errorf("%w: leaf page %d count", errDamaged, id)
	}
	for i := range n {
		e := pageHeaderSize + i*elementSize
		flags, pos, ksize, vsize := native.Uint32(p[e:]), native.Uint32(p[e+4:]), native.Uint32(p[e+8:]), native.Uint32(p[e+12:])
		if !within(p, e, pos, ksize+vsize) || ksize+vsize < ksize {
			return fmt.Errorf("%w: leaf page %d element %d", errDamaged, id, i)
		}
		switch {
		case flags == 0:
			continue
		case flags != bucketLeafFlag || !nested || vsize < bucketHeaderSize:
			return fmt.Errorf("%w: leaf page %d element %d flags", errDamaged, id, i)
		}
		v := p[e+int(pos)+int(ksize):][:vsize]
		if root := native.Uint64(v); root != 0 {
			if err := c.walk(root, depth+1); err != nil {
				return err
			}
		} else if err := c.leaf(v[bucketHeaderSize:], id, depth+1, false); err != nil {
			return err
		}
	}
	return nil
}

// within reports whether the n bytes at pos from the element at e lie in p.
func within(p []byte, e int, pos, n uint32) bool {
	end := uint64(e) + uint64(pos) + uint64(n)
	return end <= uint64(len(p))
}
