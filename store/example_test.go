package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/store"
)

// A broker keeps its retained messages (and persistent sessions) in a
// store file: a second broker on the same file, after the first stopped,
// starts with them.
func Example() {
	dir, err := os.MkdirTemp("", "jmqx-store")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "acme.db")

	run := func(f func(b *broker.Broker)) {
		st, err := store.Open(path)
		if err != nil {
			panic(err) // a damaged file: the error names it
		}
		b, err := broker.New(broker.Config{SysInterval: -1}, broker.WithStore(st)) // loads the file
		if err != nil {
			panic(err)
		}
		if err := b.Restore(); err != nil { // before serving clients
			panic(err)
		}
		f(b)
		if err := b.Shutdown(context.Background()); err != nil { // writes the last changes, closes st
			panic(err)
		}
	}
	run(func(b *broker.Broker) {
		_ = b.Publish("devices/d1/state", []byte("online"), broker.PublishOptions{QoS: 1, Retain: true})
	})
	run(func(b *broker.Broker) {
		fmt.Println("retained after the restart:", b.Stats().Retained)
	})
	// Output: retained after the restart: 1
}
