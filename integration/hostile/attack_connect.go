package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// The attacks before or at CONNECT: sockets that cost the broker before it
// knows who is there.

const (
	preconnectSockets = 500
	slowlorisSockets  = 500
	passwordWorkers   = 16

	// pwUser and pwPassword are the one user of the tenant "pw"; the
	// password attack never sends pwPassword.
	pwUser     = "alice"
	pwPassword = "correct-horse-battery"
)

// preconnectHeader is a CONNECT whose Remaining Length declares 1,048,571
// bytes, followed by the start of a 3.1.1 variable header.
var preconnectHeader = []byte{0x10, 0xfb, 0xff, 0x3f, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x00}

// runPreconnect keeps preconnectSockets sockets that declare a ~1 MiB
// CONNECT, then send 16 bytes a second of it.
func runPreconnect(ctx context.Context, env *attackEnv, st *attackStats) {
	trickle := bytes.Repeat([]byte{'a'}, 16)
	for range preconnectSockets {
		env.wg.Go(func() {
			env.reconnect(ctx, env.defaultAddr, st, func(ctx context.Context, c *budgetConn) error {
				if err := st.write(c, preconnectHeader); err != nil {
					return err
				}
				st.packets.Add(1)
				for {
					if err := readFor(c, time.Second, st); err != nil {
						return err
					}
					if err := st.write(c, trickle); err != nil {
						return err
					}
				}
			})
		})
	}
}

// runSlowloris keeps slowlorisSockets sockets that each send one byte of a
// CONNECT every 2 s. The client id is long enough that no CONNECT is ever
// finished within a run of under 10 minutes.
func runSlowloris(ctx context.Context, env *attackEnv, st *attackStats) {
	for i := range slowlorisSockets {
		id := fmt.Sprintf("hostile-slow-%d-", i)
		connect := connectPacket(v311, id+strings.Repeat("s", 300-len(id)), 60, nil, "", "")
		env.wg.Go(func() {
			env.reconnect(ctx, env.defaultAddr, st, func(ctx context.Context, c *budgetConn) error {
				for _, b := range connect {
					if err := st.write(c, []byte{b}); err != nil {
						return err
					}
					if err := readFor(c, 2*time.Second, st); err != nil {
						return err
					}
				}
				st.packets.Add(1)
				for { // finished after all: read until the broker closes
					if err := readFor(c, time.Minute, st); err != nil {
						return err
					}
				}
			})
		})
	}
}

// runPassword makes passwordWorkers goroutines send CONNECTs with a wrong
// (and each time different) password for pwUser to the tenant "pw", read
// the CONNACK and reconnect at once. They are all it starts: each holds one
// socket at a time, and the session runs in its goroutine (reconnect adds
// none but the context.AfterFunc that aborts the socket when ctx ends).
func runPassword(ctx context.Context, env *attackEnv, st *attackStats) {
	if env.pwAddr == "" {
		return
	}
	var n atomic.Int64
	for w := range passwordWorkers {
		env.wg.Go(func() {
			env.reconnect(ctx, env.pwAddr, st, func(ctx context.Context, c *budgetConn) error {
				i := n.Add(1)
				p := connectPacket(v311, fmt.Sprintf("hostile-pw-%d-%d", w, i), 30, nil, pwUser, fmt.Sprintf("wrong-%d", i))
				if err := st.write(c, p); err != nil {
					return err
				}
				st.packets.Add(1)
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				first, body, size, err := readFrame(bufio.NewReaderSize(c, 64), 4)
				st.bytesIn.Add(int64(size))
				if err != nil {
					if ctx.Err() == nil {
						st.count("closed without connack")
					}
					return err
				}
				if first>>4 != typeConnack || len(body) < 2 {
					st.count(fmt.Sprintf("packet 0x%02x", first))
					return errAgain
				}
				st.count(fmt.Sprintf("connack 0x%02x", body[1]))
				return errAgain
			})
		})
	}
}

// readFor reads (and drops) whatever the broker sends for d; it returns nil
// when d passed, or the error that ended the connection.
func readFor(c *budgetConn, d time.Duration, st *attackStats) error {
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	var buf [512]byte
	for {
		n, err := c.Read(buf[:])
		st.bytesIn.Add(int64(n))
		if err != nil {
			if isTimeout(err) {
				return nil
			}
			return err
		}
	}
}
