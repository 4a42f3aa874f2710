package broker_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/certgen"
	"github.com/jmqx/jmqx/listeners"
)

// registry is the platform's device registry: each device's secret. As an
// Authenticator it accepts a device whose user name is its client id and
// whose password is its secret; as an Authorizer it lets a device publish
// under devices/{id}/ and subscribe to its own commands.
type registry map[string]string

func (r registry) Authenticate(req *broker.AuthRequest) broker.ReasonCode {
	if secret, ok := r[req.Username]; ok && req.ClientID == req.Username && string(req.Password) == secret {
		return broker.Success
	}
	return broker.BadUsernameOrPassword
}

func (r registry) CanPublish(c *broker.ClientInfo, topic string) bool {
	return strings.HasPrefix(topic, "devices/"+c.ClientID+"/")
}

func (r registry) CanSubscribe(c *broker.ClientInfo, filter string) bool {
	return filter == "devices/"+c.ClientID+"/cmd"
}

// audit logs the device lifecycle, failed logins and every message (to a
// channel here, so that the example prints them in order).
type audit chan string

func (a audit) OnConnect(c *broker.ClientInfo)                 { a <- "online " + c.ClientID }
func (a audit) OnDisconnect(c *broker.ClientInfo)              { a <- "offline " + c.ClientID }
func (a audit) OnConnectionLost(c *broker.ClientInfo, _ error) { a <- "connection lost " + c.ClientID }
func (a audit) OnConnectRefused(r *broker.RefusedConnect) {
	a <- fmt.Sprintf("refused %s: %v", r.ClientID, r.ReasonCode)
}
func (a audit) OnPublish(c *broker.ClientInfo, m *broker.Message) {
	from := c.ClientID
	if c.Internal {
		from = "the platform"
	}
	a <- fmt.Sprintf("message %s %q from %s", m.Topic, m.Payload, from)
}

// Example embeds one broker for an IoT platform: MQTT, MQTTS (certificate
// files, and the platform's own certificate store through
// tls.Config.GetCertificate) and WebSocket listeners; devices authenticated
// against the platform's registry, each allowed to publish under its own
// topics; a log of devices going online, offline or lost and of every
// message; and a command the platform sends a device at QoS 1.
func Example() {
	certDir, cert, clientTLS := exampleCerts()
	defer os.RemoveAll(certDir)
	events := make(audit, 16)

	tcp := must(listeners.NewTCP(listeners.Config{Addr: "127.0.0.1:0"}, nil))
	mqtts := must(listeners.NewTLS(listeners.Config{Addr: "127.0.0.1:0", TLS: &listeners.TLSConfig{
		CertFile: filepath.Join(certDir, "server.pem"), KeyFile: filepath.Join(certDir, "server-key.pem")}}, nil))
	mqttsStore := must(listeners.NewTLS(listeners.Config{Name: "mqtts-store", Addr: "127.0.0.1:0",
		TLS: &listeners.TLSConfig{Config: &tls.Config{
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }}}}, nil))
	ws := must(listeners.NewWebSocket(listeners.Config{Addr: "127.0.0.1:0"}, nil))
	b, err := broker.New(broker.Config{},
		broker.WithHooks(registry{"dev-1": "s3cret", "dev-2": "hunter2"}, events),
		broker.WithListeners(tcp, mqtts, mqttsStore, ws))
	if err != nil {
		panic(err)
	}
	defer b.Shutdown(context.Background())

	// dev-1 (MQTT 5) connects over MQTTS, listens for its commands,
	// reports a temperature, and tries to publish as dev-2.
	commands := make(chan string, 1)
	conn := must(tls.Dial("tcp", mqttsStore.Addr().String(), clientTLS))
	dev1 := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) { commands <- string(pr.Packet.Payload); return true, nil }}})
	ctx := context.Background()
	must(dev1.Connect(ctx, &paho.Connect{ClientID: "dev-1", CleanStart: true, KeepAlive: 30,
		UsernameFlag: true, Username: "dev-1", PasswordFlag: true, Password: []byte("s3cret")}))
	fmt.Println(next(events))
	must(dev1.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/dev-1/cmd", QoS: 1}}}))
	must(dev1.Publish(ctx, &paho.Publish{Topic: "devices/dev-1/temp", QoS: 1, Payload: []byte("21.5")}))
	fmt.Println(next(events))
	denied, _ := dev1.Publish(ctx, &paho.Publish{Topic: "devices/dev-2/temp", QoS: 1, Payload: []byte("0")})
	fmt.Println("dev-1 publishing as dev-2:", broker.ReasonCode(denied.ReasonCode))

	// The platform sends dev-1 a command.
	if err := b.Publish("devices/dev-1/cmd", []byte("reboot"), broker.PublishOptions{QoS: 1, ContentType: "text/plain"}); err != nil {
		panic(err)
	}
	fmt.Println(next(events))
	fmt.Println("dev-1 received", <-commands)

	// dev-2 (MQTT 3.1.1) comes and goes over WebSocket; dev-3 is unknown.
	dev2 := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("ws://" + ws.Addr().String() + "/mqtt").
		SetClientID("dev-2").SetUsername("dev-2").SetPassword("hunter2"))
	dev2.Connect().Wait()
	fmt.Println(next(events))
	dev2.Disconnect(100)
	fmt.Println(next(events))
	dev3 := paho.NewClient(paho.ClientConfig{Conn: must(net.Dial("tcp", tcp.Addr().String()))})
	_, _ = dev3.Connect(ctx, &paho.Connect{ClientID: "dev-3", CleanStart: true,
		UsernameFlag: true, Username: "dev-3", PasswordFlag: true, Password: []byte("guess")})
	fmt.Println(next(events))

	// dev-1's network goes away.
	_ = conn.Close()
	fmt.Println(next(events))
	// Output:
	// online dev-1
	// message devices/dev-1/temp "21.5" from dev-1
	// dev-1 publishing as dev-2: Not authorized
	// message devices/dev-1/cmd "reboot" from the platform
	// dev-1 received reboot
	// online dev-2
	// offline dev-2
	// refused dev-3: Bad User Name or Password
	// connection lost dev-1
}

// ExampleBroker_Shutdown stops a broker gracefully: its listeners close,
// MQTT 5 clients are told why, and the port refuses connections afterwards.
func ExampleBroker_Shutdown() {
	l := must(listeners.NewTCP(listeners.Config{Addr: "127.0.0.1:0"}, nil))
	b := must(broker.New(broker.Config{}, broker.WithListeners(l)))

	told := make(chan string, 1)
	device := paho.NewClient(paho.ClientConfig{Conn: must(net.Dial("tcp", l.Addr().String())),
		OnServerDisconnect: func(d *paho.Disconnect) { told <- broker.ReasonCode(d.ReasonCode).String() }})
	must(device.Connect(context.Background(), &paho.Connect{ClientID: "dev-1", CleanStart: true, KeepAlive: 30}))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		fmt.Println("shutdown:", err)
	}
	fmt.Println("the device was told:", <-told)
	_, err := net.Dial("tcp", l.Addr().String())
	fmt.Println("port refuses connections:", err != nil)
	// Output:
	// the device was told: Server shutting down
	// port refuses connections: true
}

// ExampleBroker_Subscribe shows the in-process API: the application
// subscribes and publishes without a socket.
func ExampleBroker_Subscribe() {
	b := must(broker.New(broker.Config{}))
	defer b.Shutdown(context.Background())

	got := make(chan string, 1)
	sub := must(b.Subscribe("alerts/#", 1, func(m *broker.Message) {
		got <- m.Topic + " " + string(m.Payload) + " " + m.ContentType
	}))
	defer sub.Unsubscribe()

	_ = b.Publish("alerts/fire", []byte("building 7"), broker.PublishOptions{QoS: 1, ContentType: "text/plain"})
	fmt.Println(<-got)
	// Output: alerts/fire building 7 text/plain
}

// must returns v, or panics with err.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// next returns the next event, or "timeout" after 5s.
func next(events <-chan string) string {
	select {
	case e := <-events:
		return e
	case <-time.After(5 * time.Second):
		return "timeout"
	}
}

// exampleCerts writes a generated server certificate for 127.0.0.1 into a
// new folder (server.pem, server-key.pem) and returns the folder, the
// certificate as a platform's certificate store would hand it out, and a
// client configuration trusting its CA.
func exampleCerts() (dir string, cert *tls.Certificate, client *tls.Config) {
	bundle := must(certgen.Generate(certgen.Options{Hosts: []string{"127.0.0.1"}}))
	dir = must(os.MkdirTemp("", "jmqx-example"))
	must(bundle.WriteFiles(dir, false))
	c := bundle.ServerTLS()
	return dir, &c, &tls.Config{RootCAs: bundle.CAPool(), ServerName: "127.0.0.1"}
}
