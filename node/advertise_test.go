package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/jmqx/jmqx/admin"
	"github.com/jmqx/jmqx/internal/testwait"
	"github.com/jmqx/jmqx/meta"
	"github.com/jmqx/jmqx/tenant"
)

func TestAdvertiseDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                     string
		cfg                      Config
		bound                    string // the admin API's bound address
		wantAdmin, wantAdminHost string
		wantRaft                 string // RaftAdvertise after defaults
	}{
		{name: "specific binds advertise themselves",
			cfg:   Config{AdminAddr: "10.0.0.5:18083", RaftAddr: "10.0.0.5:18084", Host: tenant.HostConfig{AdvertiseHost: "mqtt.example.com"}},
			bound: "10.0.0.5:18083", wantAdmin: "10.0.0.5:18083", wantAdminHost: "10.0.0.5", wantRaft: ""},
		{name: "wildcard binds take the advertise host and the bound port",
			cfg:   Config{AdminAddr: "0.0.0.0:0", RaftAddr: ":18084", Host: tenant.HostConfig{AdvertiseHost: "10.0.0.5"}},
			bound: "0.0.0.0:41234", wantAdmin: "10.0.0.5:41234", wantAdminHost: "10.0.0.5", wantRaft: "10.0.0.5:18084"},
		{name: "else the specific bind host",
			cfg:   Config{AdminAddr: "[::]:18083", RaftAddr: "0.0.0.0:18084", Host: tenant.HostConfig{BindHost: "10.0.0.6"}},
			bound: "[::]:18083", wantAdmin: "10.0.0.6:18083", wantAdminHost: "10.0.0.6", wantRaft: "10.0.0.6:18084"},
		{name: "a name is advertised for the admin API only",
			cfg:   Config{AdminAddr: ":18083", RaftAddr: "10.0.0.5:18084", Host: tenant.HostConfig{AdvertiseHost: "node1.example.com"}},
			bound: "[::]:18083", wantAdmin: "node1.example.com:18083", wantAdminHost: "node1.example.com", wantRaft: ""},
		{name: "explicit addresses win",
			cfg: Config{AdminAddr: "0.0.0.0:18083", AdminAdvertise: "203.0.113.7:0", RaftAddr: "0.0.0.0:18084",
				RaftAdvertise: "203.0.113.7:28084", Host: tenant.HostConfig{AdvertiseHost: "10.0.0.5"}},
			bound: "0.0.0.0:18083", wantAdmin: "203.0.113.7:18083", wantAdminHost: "203.0.113.7", wantRaft: "203.0.113.7:28084"},
		{name: "a wildcard without an advertise host stays (single node only)",
			cfg:   Config{AdminAddr: "0.0.0.0:18083", RaftAddr: "127.0.0.1:18084"},
			bound: "0.0.0.0:18083", wantAdmin: "0.0.0.0:18083", wantAdminHost: "", wantRaft: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.setDefaults()
			if got := cfg.adminAdvertiseAddr(tt.bound); got != tt.wantAdmin {
				t.Errorf("admin advertise = %q, want %q", got, tt.wantAdmin)
			}
			if got := cfg.adminAdvertiseHost(); got != tt.wantAdminHost {
				t.Errorf("admin advertise host = %q, want %q", got, tt.wantAdminHost)
			}
			if cfg.RaftAdvertise != tt.wantRaft {
				t.Errorf("raft advertise = %q, want %q", cfg.RaftAdvertise, tt.wantRaft)
			}
		})
	}
}

// The data plane's addresses default like the Raft transport's: the
// address bound, or on every interface the advertise host (an IP) with the
// port of the bind.
func TestDataPlaneAdvertiseDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                   string
		cfg                    Config
		wantGossip, wantLink   string // GossipAddr and ClusterAddr after defaults
		wantGossipAdv, wantAdv string // GossipAdvertise and ClusterAdvertise after defaults
	}{
		{name: "defaults",
			cfg:        Config{Host: tenant.HostConfig{AdvertiseHost: "10.0.0.5"}},
			wantGossip: DefaultGossipAddr, wantLink: DefaultClusterAddr},
		{name: "specific binds advertise themselves",
			cfg:        Config{GossipAddr: "10.0.0.5:7946", ClusterAddr: "10.0.0.5:7947", Host: tenant.HostConfig{AdvertiseHost: "10.0.0.6"}},
			wantGossip: "10.0.0.5:7946", wantLink: "10.0.0.5:7947"},
		{name: "wildcard binds take the advertise host and the port of the bind",
			cfg:        Config{GossipAddr: ":7946", ClusterAddr: "0.0.0.0:0", Host: tenant.HostConfig{AdvertiseHost: "10.0.0.5"}},
			wantGossip: ":7946", wantLink: "0.0.0.0:0", wantGossipAdv: "10.0.0.5:7946", wantAdv: "10.0.0.5:0"},
		{name: "else the specific bind host",
			cfg:        Config{GossipAddr: "[::]:7946", ClusterAddr: "0.0.0.0:7947", Host: tenant.HostConfig{BindHost: "10.0.0.6"}},
			wantGossip: "[::]:7946", wantLink: "0.0.0.0:7947", wantGossipAdv: "10.0.0.6:7946", wantAdv: "10.0.0.6:7947"},
		{name: "never a name",
			cfg:        Config{GossipAddr: ":7946", ClusterAddr: ":7947", Host: tenant.HostConfig{AdvertiseHost: "node1.example.com"}},
			wantGossip: ":7946", wantLink: ":7947"},
		{name: "explicit addresses win",
			cfg: Config{GossipAddr: ":7946", GossipAdvertise: "203.0.113.7:27946", ClusterAddr: ":7947",
				ClusterAdvertise: "203.0.113.7:0", Host: tenant.HostConfig{AdvertiseHost: "10.0.0.5"}},
			wantGossip: ":7946", wantLink: ":7947", wantGossipAdv: "203.0.113.7:27946", wantAdv: "203.0.113.7:0"},
		{name: "off: no defaults",
			cfg: Config{DisableCluster: true, Host: tenant.HostConfig{AdvertiseHost: "10.0.0.5"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.setDefaults()
			got := [4]string{cfg.GossipAddr, cfg.ClusterAddr, cfg.GossipAdvertise, cfg.ClusterAdvertise}
			if want := [4]string{tt.wantGossip, tt.wantLink, tt.wantGossipAdv, tt.wantAdv}; got != want {
				t.Errorf("gossip, cluster, gossip advertise, cluster advertise = %q, want %q", got, want)
			}
		})
	}
}

func TestAdvertiseValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{AdminAdvertise: "0.0.0.0:18083"}, "not a wildcard"},
		{Config{AdminAdvertise: "no-port"}, `admin advertise address "no-port"`},
		{Config{AdminAdvertise: "host:99999"}, `port "99999"`},
		{Config{RaftAddr: "0.0.0.0:18084"}, "--raft-advertise"},
		{Config{RaftAddr: "0.0.0.0:18084", Host: tenant.HostConfig{AdvertiseHost: "node1.example.com"}}, `"node1.example.com" is not one`},
		{Config{GossipAddr: "0.0.0.0:18085"}, "--gossip-advertise"},
		{Config{ClusterAddr: ":18086", Host: tenant.HostConfig{AdvertiseHost: "node1.example.com"}}, `--cluster-advertise) to an IP address the other members reach this node at, or an IP address as advertise host (--advertise-host; "node1.example.com" is not one)`},
		{Config{GossipAddr: "no-port"}, `gossip address "no-port"`},
		{Config{ClusterAddr: "127.0.0.1:70000"}, `cluster address "127.0.0.1:70000": port "70000"`},
		{Config{GossipAdvertise: "node1.example.com:18085"}, `gossip advertise address "node1.example.com:18085": want a specific IP address`},
		{Config{ClusterAdvertise: "[::]:18086"}, `cluster advertise address "[::]:18086": want a specific IP address`},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want an error containing %q", tt.cfg, err, tt.want)
		}
	}
	for _, cfg := range []Config{
		{AdminAdvertise: "node1.example.com:18083", RaftAddr: "0.0.0.0:0", GossipAddr: ":0", ClusterAddr: "[::]:18086",
			Host: tenant.HostConfig{AdvertiseHost: "10.0.0.5"}},
		{GossipAddr: "0.0.0.0:18085", GossipAdvertise: "10.0.0.5:0", ClusterAddr: ":18086", ClusterAdvertise: "[2001:db8::1]:18086"},
		{DisableCluster: true, GossipAddr: "0.0.0.0:18085", ClusterAdvertise: "bad"}, // off: ignored
	} {
		if err := cfg.Validate(); err != nil {
			t.Errorf("Validate(%+v): %v", cfg, err)
		}
	}
}

// A node bound to every interface with nothing to advertise cannot join:
// the others could not reach it.
func TestJoinRefusesWildcardAdmin(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	cfg.AdminAddr, cfg.AdminToken = "0.0.0.0:0", "0123456789abcdef0123"
	cfg.Host = tenant.HostConfig{PortMin: 15000, PortMax: 15999}
	cfg.Join = []string{"127.0.0.1:1"}
	_, err := Start(context.Background(), cfg, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)))
	if err == nil || !strings.Contains(err.Error(), "--admin-advertise") {
		t.Fatalf("Start = %v, want the wildcard refusal", err)
	}
}

// The member record holds the advertised admin address, which the API
// answers to in the Host header.
func TestMemberRecordsAdminAdvertise(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	cfg.AdminAdvertise = "node1.example.test:0"
	n := start(t, cfg)
	_, port, _ := strings.Cut(n.AdminAddr().String(), ":")
	want := "node1.example.test:" + port
	if m := n.member(); m.AdminAddr != want {
		t.Fatalf("member admin address = %q, want %q", m.AdminAddr, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c := client(t, n)
	testwait.Until(t, wait, func() error {
		ms, err := c.Members(ctx)
		if err != nil {
			return err
		}
		if len(ms) != 1 || ms[0].AdminAddr != want {
			return fmt.Errorf("members = %+v, want %s at %s", ms, n.ID(), want)
		}
		return nil
	})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.AdminAddr().String()+"/healthz", nil)
	req.Host = want
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz with Host %s: %s, want 200", want, resp.Status)
	}
}

// A join records data-plane addresses the other members can dial: both or
// neither, each a specific IP address with a port.
func TestJoinChecksDataPlaneAddrs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		gossip, cluster string
		want            string // "" for accepted
	}{
		{"", "", ""},
		{"10.0.0.5:18085", "10.0.0.5:18086", ""},
		{"[2001:db8::1]:0", "[2001:db8::1]:18086", ""},
		{"10.0.0.5:18085", "", "give both"},
		{"", "10.0.0.5:18086", "give both"},
		{"0.0.0.0:18085", "10.0.0.5:18086", `gossip_addr "0.0.0.0:18085": want a specific IP address`},
		{"10.0.0.5:18085", "node1.example.com:18086", `cluster_addr "node1.example.com:18086": want a specific IP address`},
		{"10.0.0.5", "10.0.0.5:18086", `gossip_addr "10.0.0.5"`},
		{"10.0.0.5:18085", "10.0.0.5:99999", `port "99999"`},
	}
	for _, tt := range tests {
		m := joinView(meta.Member{ID: "n2", RaftAddr: "10.0.0.5:18084", AdminAddr: "10.0.0.5:18083", GossipAddr: tt.gossip, ClusterAddr: tt.cluster})
		err := checkDataPlaneAddrs(m)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("gossip %q, cluster %q: %v", tt.gossip, tt.cluster, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, admin.ErrInvalid)):
			t.Errorf("gossip %q, cluster %q: %v, want admin.ErrInvalid containing %q", tt.gossip, tt.cluster, err, tt.want)
		}
	}
}
