package tenant_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/tenant"
)

// Two tenants in one process, keyed by namespace, each with its own port
// and users: the same user name means two different credentials.
func Example() {
	host, err := tenant.NewHost(tenant.HostConfig{BindHost: "127.0.0.1"})
	if err != nil {
		panic(err)
	}
	defer host.Close(context.Background())

	for _, name := range []string{"acme", "globex"} {
		hash, err := tenant.HashPassword([]byte(name + "-secret"))
		if err != nil {
			panic(err)
		}
		st, err := host.Apply(tenant.Spec{
			Name:      name,
			Listeners: tenant.Listeners{MQTT: tenant.PortAuto, WS: tenant.PortOff},
			Auth:      tenant.Auth{Users: []tenant.User{{Name: "device", PasswordHashes: []string{hash}}}},
		})
		if err != nil {
			panic(err)
		}
		_, port, _ := net.SplitHostPort(st.Listeners[tenant.ListenerMQTT])
		n, _ := strconv.Atoi(port)
		fmt.Printf("%s: mqtt on its own port: %t, users: %d\n", name, n >= tenant.DefaultPortMin, len(st.Spec.Auth.Users))
	}
	for _, st := range host.List() {
		fmt.Println(st.Spec.Name, st.Stats.ClientsConnected)
	}
	// Output:
	// acme: mqtt on its own port: true, users: 1
	// globex: mqtt on its own port: true, users: 1
	// acme 0
	// globex 0
}

// registry is a platform's own device registry: for each tenant, its
// devices' secrets. A real one would be a database.
type registry map[string]map[string]string

// devices authenticates the devices of one tenant against the registry.
type devices struct {
	tenant string
	reg    registry
}

// Authenticate admits a device whose user name is registered for the
// tenant with the password given.
func (d devices) Authenticate(req *broker.AuthRequest) broker.ReasonCode {
	if secret, ok := d.reg[d.tenant][req.Username]; ok && secret == string(req.Password) {
		req.Tag = d.tenant + "/" + req.Username // becomes ClientInfo.AuthTag
		return broker.Success
	}
	return broker.BadUsernameOrPassword
}

// Two tenants whose authentication is delegated to the application's
// device registry: their specs list no users, each tenant has its own
// port, and a device is admitted to a tenant exactly when the registry
// says so.
func ExampleWithAuthenticator() {
	reg := registry{
		"acme":   {"sensor-1": "s3cret"},
		"globex": {"pump-7": "hunter2"},
	}
	host, err := tenant.NewHost(tenant.HostConfig{BindHost: "127.0.0.1"},
		tenant.WithAuthenticator(func(s tenant.Spec) broker.Authenticator {
			return devices{tenant: s.Name, reg: reg}
		}))
	if err != nil {
		panic(err)
	}
	defer host.Close(context.Background())

	addr := map[string]string{}
	for _, name := range []string{"acme", "globex"} {
		st, err := host.Apply(tenant.Spec{
			Name:      name,
			Listeners: tenant.Listeners{MQTT: tenant.PortAuto, WS: tenant.PortOff},
		})
		if err != nil {
			panic(err)
		}
		addr[name] = st.Listeners[tenant.ListenerMQTT]
	}
	fmt.Println("own ports:", addr["acme"] != addr["globex"])

	connect := func(tenantName, user, password string) {
		opts := mqtt.NewClientOptions().AddBroker("tcp://" + addr[tenantName]).
			SetClientID(user).SetUsername(user).SetPassword(password).
			SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
		c := mqtt.NewClient(opts)
		tok := c.Connect()
		tok.Wait()
		switch err := tok.Error(); {
		case err == nil:
			fmt.Printf("%s: %s accepted\n", tenantName, user)
			c.Disconnect(100)
		case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword):
			fmt.Printf("%s: %s refused: bad user name or password\n", tenantName, user)
		default:
			fmt.Printf("%s: %s: %v\n", tenantName, user, err)
		}
	}
	connect("acme", "sensor-1", "s3cret")
	connect("acme", "sensor-1", "wrong")
	connect("globex", "sensor-1", "s3cret") // registered with acme only
	connect("globex", "pump-7", "hunter2")
	// Output:
	// own ports: true
	// acme: sensor-1 accepted
	// acme: sensor-1 refused: bad user name or password
	// globex: sensor-1 refused: bad user name or password
	// globex: pump-7 accepted
}
