package broker_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// deviceListener logs devices going online and offline and every message
// they report: Jmqx's lifecycle listener, as jmqx hooks.
type deviceListener struct{ events chan string }

func (d *deviceListener) OnConnect(c *broker.ClientInfo) { d.events <- "online " + c.ClientID }
func (d *deviceListener) OnDisconnect(c *broker.ClientInfo) {
	d.events <- "offline " + c.ClientID
}
func (d *deviceListener) OnConnectionLost(c *broker.ClientInfo, cause error) {
	d.events <- "lost " + c.ClientID + ": " + cause.Error()
}
func (d *deviceListener) OnPublish(c *broker.ClientInfo, m *broker.Message) {
	d.events <- fmt.Sprintf("%s reported %s=%s", c.ClientID, m.Topic, m.Payload)
}

// Example embeds a broker with a device lifecycle listener, then plays a
// device over a real socket.
func Example() {
	events := &deviceListener{events: make(chan string, 16)}
	b, err := broker.New(broker.Config{}, broker.WithHooks(events))
	if err != nil {
		panic(err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go b.Serve(l)
	defer b.Shutdown(context.Background())

	// A device connects, reports a temperature and disconnects.
	conn, _ := net.Dial("tcp", l.Addr().String())
	connect := packet.Connect{Version: packet.V311, CleanStart: true, ClientID: "sensor-1"}
	publish := packet.Publish{Topic: "sensors/1/temp", Payload: []byte("21.5")}
	var out []byte
	out = connect.AppendTo(out, packet.V311)
	out = publish.AppendTo(out, packet.V311)
	out = (&packet.Disconnect{}).AppendTo(out, packet.V311)
	_, _ = conn.Write(out)
	defer conn.Close()

	for i := 0; i < 3; i++ {
		select {
		case e := <-events.events:
			fmt.Println(e)
		case <-time.After(5 * time.Second):
			fmt.Println("timeout")
		}
	}
	// Output:
	// online sensor-1
	// sensor-1 reported sensors/1/temp=21.5
	// offline sensor-1
}

// ExampleBroker_Subscribe shows the in-process API: the application
// subscribes and publishes without a socket.
func ExampleBroker_Subscribe() {
	b, _ := broker.New(broker.Config{})
	defer b.Shutdown(context.Background())

	got := make(chan string, 1)
	sub, _ := b.Subscribe("alerts/#", 1, func(m *broker.Message) {
		got <- m.Topic + " " + string(m.Payload)
	})
	defer sub.Unsubscribe()

	_ = b.Publish("alerts/fire", []byte("building 7"), broker.PublishOptions{QoS: 1})
	fmt.Println(<-got)
	// Output: alerts/fire building 7
}
