package tenant_test

import (
	"context"
	"fmt"
	"net"
	"strconv"

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
		_, port, _ := net.SplitHostPort(st.Listeners["mqtt"])
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
