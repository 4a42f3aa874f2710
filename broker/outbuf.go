package broker

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/internal/packet"
)

// The outbound buffer: packets are appended to client.out under wmu; the
// first append to an empty buffer starts a flush goroutine that writes until
// the buffer is empty and then ends, so an idle connection has neither a
// writer goroutine nor a write buffer. PUBLISH packets fill it up to
// MaxOutboundBytes: past that, QoS 0 messages are dropped and QoS 1/2 ones
// wait in the session queue until the writer has drained half of it. The
// capacity beyond the pooled writeBufSize is charged to the memory budget.
const writeBufSize = 16 << 10

// publishSlack is what a PUBLISH encoding adds to its topic and payload at
// most, short of large properties (header, lengths, packet identifier).
const publishSlack = 64

// writePool holds write buffers of exactly writeBufSize bytes' capacity;
// it refuses others.
type writePool struct{ p sync.Pool }

func (wp *writePool) get() []byte {
	if v := wp.p.Get(); v != nil {
		return v.(*[writeBufSize]byte)[:0]
	}
	return new([writeBufSize]byte)[:0]
}

func (wp *writePool) put(b []byte) {
	if cap(b) != writeBufSize {
		return
	}
	wp.p.Put((*[writeBufSize]byte)(b[:writeBufSize]))
}

// reserveControlLocked makes sure there is an outbound buffer for a
// control packet (never refused for size: they are small and answer the
// client); wmu held.
func (c *client) reserveControlLocked() bool {
	if c.wclosed {
		return false
	}
	if c.out == nil {
		c.out = c.b.writeBufs.get()
	}
	return true
}

// reserveLocked makes room for a PUBLISH of about n bytes at qos: the
// buffer must be below MaxOutboundBytes (an empty one always takes one
// packet) and its growth must fit the memory budget; wmu held.
func (c *client) reserveLocked(qos byte, n int) writeStatus {
	if !c.reserveControlLocked() {
		return closing
	}
	used := len(c.out)
	if used > 0 && (used+n > c.b.config().MaxOutboundBytes || !c.growOutLocked(n)) {
		if qos == 0 {
			return backlog
		}
		c.outWaiting = true
		return full
	}
	return written
}

// growOutLocked makes the outbound buffer's capacity at least len+n,
// charging the growth to the memory budget; it reports false, changing
// nothing, when the budget is spent. wmu held.
func (c *client) growOutLocked(n int) bool {
	need := len(c.out) + n
	if need <= cap(c.out) {
		return true
	}
	size := max(need, 2*cap(c.out))
	extra := int64(size - writeBufSize)
	if !c.b.mem.charge(extra - c.outCharge) {
		return false
	}
	nb := make([]byte, len(c.out), size)
	copy(nb, c.out)
	c.b.writeBufs.put(c.out)
	c.out, c.outCharge = nb, extra
	return true
}

// chargeOutLocked accounts for an outbound buffer that append grew beyond
// what growOutLocked reserved; wmu held.
func (c *client) chargeOutLocked() {
	if extra := int64(cap(c.out) - writeBufSize); extra > c.outCharge {
		c.b.mem.force(extra - c.outCharge)
		c.outCharge = extra
	}
}

// writeControl queues a non-PUBLISH packet.
func (c *client) writeControl(p packet.Packet) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.reserveControlLocked() {
		c.out = p.AppendTo(c.out, c.version)
		c.chargeOutLocked()
		c.startFlushLocked()
	}
}

// writeAck queues a PUBACK, PUBREC, PUBREL or PUBCOMP; unlike writeControl
// it does not box the packet in an interface, so it does not allocate.
func (c *client) writeAck(t packet.Type, pid uint16, rc packet.ReasonCode) {
	a := packet.Ack{Type: t, PacketID: pid, ReasonCode: rc}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.reserveControlLocked() {
		c.out = a.AppendTo(c.out, c.version)
		c.chargeOutLocked()
		c.startFlushLocked()
	}
}

// writeFrame queues an encoded PUBLISH frame, patching in pid at pidOff
// when pid is non-zero.
func (c *client) writeFrame(frame []byte, pidOff int, pid uint16, qos byte) writeStatus {
	if len(frame) > c.maxOutPacket {
		return tooLarge
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if st := c.reserveLocked(qos, len(frame)); st != written {
		return st
	}
	start := len(c.out)
	c.out = append(c.out, frame...)
	putPID(c.out, start+pidOff, pid)
	c.chargeOutLocked()
	c.startFlushLocked()
	return written
}

// putPID writes a non-zero packet identifier at off.
func putPID(buf []byte, off int, pid uint16) {
	if pid != 0 {
		buf[off] = byte(pid >> 8)
		buf[off+1] = byte(pid)
	}
}

// startFlushLocked wakes the writer goroutine, starting one if none runs;
// wmu held.
func (c *client) startFlushLocked() {
	if !c.flushing {
		c.flushing = true
		if c.wake == nil {
			c.wake = make(chan struct{}, 1)
		}
		c.b.connWG.Add(1) // the connection's goroutine is alive: wclosed is unset
		go c.flush()
		return
	}
	if c.writerIdle {
		c.writerIdle = false
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// writerLinger is how long an idle writer goroutine waits for more output
// before it ends (and gives its buffers back), so that busy connections do
// not start a goroutine per write and idle ones hold none.
const writerLinger = time.Second

// flush writes the outbound buffer whenever it has data, until the
// connection closes or stays idle for writerLinger.
func (c *client) flush() {
	defer c.b.connWG.Done()
	var idle *time.Timer
	for {
		c.wmu.Lock()
		if c.wclosed {
			c.stopWriterLocked()
			c.wmu.Unlock()
			return
		}
		if len(c.out) == 0 {
			c.signalFlushedLocked()
			c.writerIdle = true
			c.releaseWriteBuffersLocked()
			c.wmu.Unlock()
			if idle == nil {
				idle = time.NewTimer(writerLinger)
			} else {
				idle.Reset(writerLinger)
			}
			select {
			case <-c.wake:
				idle.Stop()
				continue
			case <-idle.C:
			}
			c.wmu.Lock()
			if len(c.out) == 0 || c.wclosed {
				c.stopWriterLocked()
				c.wmu.Unlock()
				return
			}
			c.writerIdle = false
			c.wmu.Unlock()
			continue
		}
		c.writerIdle = false
		buf, bufCharge := c.out, c.outCharge
		c.out, c.outCharge = c.spare, 0
		c.spare = nil
		c.wmu.Unlock()

		_ = c.conn.SetWriteDeadline(time.Now().Add(c.b.config().WriteTimeout))
		n, err := c.conn.Write(buf)
		c.b.stats.bytesSent.Add(int64(n))

		c.wmu.Lock()
		if cap(buf) == writeBufSize && c.spare == nil {
			c.spare = buf[:0]
		} else {
			c.b.writeBufs.put(buf)
		}
		c.b.mem.release(bufCharge)
		refill := c.outWaiting && err == nil && len(c.out) < c.b.config().MaxOutboundBytes/2
		if refill {
			c.outWaiting = false
		}
		if err != nil {
			c.wclosed = true
			c.wmu.Unlock()
			if ce := c.b.log.Check(zap.DebugLevel, "write failed"); ce != nil {
				ce.Write(zap.String("client", c.info.ClientID), zap.Error(err))
			}
			_ = c.conn.Close()
			continue
		}
		c.wmu.Unlock()
		if refill { // messages wait in the queue for room in the buffer
			c.refillAfterDrain()
		}
	}
}

// refillAfterDrain sends queued messages once the outbound buffer has
// room again (called by the writer, holding no lock).
func (c *client) refillAfterDrain() {
	s := c.sess
	if s == nil {
		return
	}
	now := time.Now().UnixNano()
	s.mu.Lock()
	if s.client == c {
		s.refillCurrent(now)
	}
	s.mu.Unlock()
}

// releaseWriteBuffersLocked gives the write buffers back to the pool: the
// outbound one if it is empty (or will never be written); wmu held.
func (c *client) releaseWriteBuffersLocked() {
	if c.out != nil && (len(c.out) == 0 || c.wclosed) {
		c.b.writeBufs.put(c.out)
		c.out = nil
		c.b.mem.release(c.outCharge)
		c.outCharge = 0
	}
	if c.spare != nil {
		c.b.writeBufs.put(c.spare)
		c.spare = nil
	}
}

// signalFlushedLocked releases waitFlushed; wmu held.
func (c *client) signalFlushedLocked() {
	if c.flushed != nil {
		close(c.flushed)
		c.flushed = nil
	}
}

// stopWriterLocked ends the writer: it returns the buffers to the pool and
// releases waiters; wmu held.
func (c *client) stopWriterLocked() {
	c.flushing = false
	c.writerIdle = false
	c.releaseWriteBuffersLocked()
	c.signalFlushedLocked()
	select { // drain a wake-up sent before the writer saw it was idle
	case <-c.wake:
	default:
	}
}

// waitFlushed waits until the outbound buffer is written (or timeout).
func (c *client) waitFlushed(timeout time.Duration) {
	c.wmu.Lock()
	if !c.flushing || len(c.out) == 0 && c.writerIdle {
		c.wmu.Unlock()
		return
	}
	if c.flushed == nil {
		c.flushed = make(chan struct{})
	}
	ch := c.flushed
	c.wmu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
}
