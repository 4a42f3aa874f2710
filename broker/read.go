package broker

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/jmqx/jmqx/internal/packet"
)

// readBufSize is the size of pooled read buffers; larger packets get a
// buffer of their own for as long as they are being read.
const readBufSize = 4096

// bufPool holds read buffers of exactly readBufSize bytes; it refuses
// buffers of other capacities.
type bufPool struct{ p sync.Pool }

func (bp *bufPool) get() []byte {
	if v := bp.p.Get(); v != nil {
		return v.(*[readBufSize]byte)[:]
	}
	return new([readBufSize]byte)[:]
}

func (bp *bufPool) put(b []byte) {
	if cap(b) != readBufSize {
		return
	}
	bp.p.Put((*[readBufSize]byte)(b[:readBufSize]))
}

// rawConn waits until a socket is readable without holding a buffer, so an
// idle connection keeps no read buffer.
type rawConn interface {
	waitReadable() error
}

type sysRawConn struct {
	rc   syscall.RawConn
	peek [1]byte
	fn   func(fd uintptr) bool
}

func newRawConn(conn net.Conn) rawConn {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	if _, isTCP := conn.(*net.TCPConn); !isTCP {
		if _, isUnix := conn.(*net.UnixConn); !isUnix {
			return nil
		}
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &sysRawConn{rc: rc}
	r.fn = r.ready
	return r
}

// ready reports whether data (or EOF, or an error) is waiting on fd; the
// runtime poller parks the goroutine while it returns false.
func (r *sysRawConn) ready(fd uintptr) bool {
	_, _, err := syscall.Recvfrom(int(fd), r.peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK && err != syscall.EINTR
}

func (r *sysRawConn) waitReadable() error { return r.rc.Read(r.fn) }

// readPacket returns the next packet's fixed header and body. The body
// aliases the read buffer and is valid until the next call. timeout is the
// keep alive allowance (0: none) measured from now.
func (c *client) readPacket(timeout time.Duration) (packet.FixedHeader, []byte, error) {
	for {
		if c.rend > c.rstart {
			h, n, err := packet.ParseFixedHeader(c.rbuf[c.rstart:c.rend])
			if err == nil {
				if n+h.Remaining > c.b.config().MaxPacketSize { // the whole packet counts
					return h, nil, fmt.Errorf("packet of %d bytes exceeds maximum packet size %d: %w",
						h.Remaining+n, c.b.config().MaxPacketSize, packet.PacketTooLarge)
				}
				if total := n + h.Remaining; c.rend-c.rstart >= total {
					body := c.rbuf[c.rstart+n : c.rstart+total]
					c.rstart += total
					c.b.stats.bytesReceived.Add(int64(total))
					return h, body, nil
				} else if c.rstart+total > len(c.rbuf) {
					if err := c.growReadBuffer(total); err != nil {
						return h, nil, err
					}
				}
			} else if !errors.Is(err, packet.ErrIncomplete) {
				return h, nil, err
			}
		}
		if err := c.fill(timeout); err != nil {
			return packet.FixedHeader{}, nil, err
		}
	}
}

// fill reads more bytes into the read buffer, waiting for readability
// without a buffer when the buffer is empty.
func (c *client) fill(timeout time.Duration) error {
	if c.rstart == c.rend {
		c.rstart, c.rend = 0, 0
		if c.raw != nil {
			c.releaseReadBuffer()
			if err := c.setReadDeadline(timeout); err != nil {
				return err
			}
			if err := c.raw.waitReadable(); err != nil {
				return err
			}
		}
	} else if c.rstart > 0 && c.rend == len(c.rbuf) {
		n := copy(c.rbuf, c.rbuf[c.rstart:c.rend])
		c.rstart, c.rend = 0, n
	}
	if c.rbuf == nil {
		c.rbuf = c.b.readBufs.get()
	}
	if c.sc == nil {
		c.sc = c.b.getScratch()
	}
	if err := c.setReadDeadline(timeout); err != nil {
		return err
	}
	n, err := c.conn.Read(c.rbuf[c.rend:])
	c.rend += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = errors.New("broker: empty read")
	}
	return err
}

func (c *client) setReadDeadline(timeout time.Duration) error {
	if c.kickCode.Load() != 0 {
		return errKicked
	}
	var d time.Time
	if timeout > 0 {
		d = time.Now().Add(timeout)
	}
	if !c.connectBy.IsZero() && (d.IsZero() || c.connectBy.Before(d)) {
		d = c.connectBy // the CONNECT exchange has one total deadline
	}
	err := c.conn.SetReadDeadline(d)
	if c.kickCode.Load() != 0 {
		return errKicked // a kick raced with the deadline reset
	}
	return err
}

var errKicked = errors.New("broker: disconnected by server")

// growReadBuffer makes room for more of a packet of total bytes starting
// at rstart. Memory follows the bytes that arrived, not the length the
// packet declares: a larger buffer is made only once the current one is
// full, at most twice its size, and charged to the memory budget (beyond
// the pooled readBufSize); a packet the budget cannot hold ends the
// connection with 0x97 Quota exceeded.
func (c *client) growReadBuffer(total int) error {
	if total <= len(c.rbuf) || c.rstart > 0 { // room after moving the packet to the front
		n := copy(c.rbuf, c.rbuf[c.rstart:c.rend])
		c.rstart, c.rend = 0, n
		if total <= len(c.rbuf) || c.rend < len(c.rbuf) {
			return nil
		}
	}
	if c.rend < len(c.rbuf) {
		return nil // read more first
	}
	size := min(total, max(2*len(c.rbuf), 4*readBufSize))
	charge := int64(size)
	if !c.b.mem.charge(charge - c.rbufCharge) {
		c.b.stats.memoryRefusals.Add(1)
		return fmt.Errorf("broker: a %d-byte packet does not fit the memory budget: %w", total, packet.QuotaExceeded)
	}
	nb := make([]byte, size)
	n := copy(nb, c.rbuf[c.rstart:c.rend])
	c.b.readBufs.put(c.rbuf)
	c.rbuf, c.rstart, c.rend, c.rbufCharge = nb, 0, n, charge
	return nil
}

// releaseReadBuffer returns an empty read buffer and the scratch to their
// pools.
func (c *client) releaseReadBuffer() {
	if c.rbuf != nil && c.rstart == c.rend {
		c.dropReadBuffer()
	}
	if c.sc != nil && c.rbuf == nil {
		c.b.putScratch(c.sc)
		c.sc = nil
	}
}

// dropReadBuffer lets go of the read buffer, whatever it holds, and gives
// back its charge.
func (c *client) dropReadBuffer() {
	c.b.readBufs.put(c.rbuf)
	c.b.mem.release(c.rbufCharge)
	c.rbuf, c.rstart, c.rend, c.rbufCharge = nil, 0, 0, 0
}

func (b *Broker) getScratch() *scratch {
	if v := b.scratchPool.Get(); v != nil {
		return v.(*scratch)
	}
	return new(scratch)
}

func (b *Broker) putScratch(sc *scratch) {
	r := &sc.route
	r.pub, r.msg, r.from, r.lastRes, r.publisher = nil, nil, nil, nil, nil
	clear(r.targets)
	if cap(r.buf) > maxPooledRouteBuf {
		r.buf = nil
	}
	b.scratchPool.Put(sc)
}
