package tenant

import (
	"reflect"
	"testing"
	"time"
)

// Every BrokerSettings field reaches each tenant's broker as set, and no
// tenant Limits field overrides one: a tenant's limits have one place,
// Spec.Limits, with one set of defaults.
func TestBrokerSettingsDoNotOverlapLimits(t *testing.T) {
	set := BrokerSettings{
		ConnectTimeout: 3 * time.Second, WriteTimeout: 4 * time.Second, RateWait: 5 * time.Second,
		ReceiveMaximum: 7, TopicAliasMaximum: 8, MaxTopicLevels: 9, MaxClientIDLength: 10,
		DisableSubscriptionIDs: true, SysInterval: 11 * time.Second, CertCNAsUsername: true,
		StoreInterval: 12 * time.Second,
	}
	h := &Host{cfg: HostConfig{Broker: set}}
	for _, spec := range []Spec{{Name: "zero"}, fullSpec(t)} {
		got := reflect.ValueOf(h.brokerConfig(&running{}, spec.WithDefaults()))
		sv := reflect.ValueOf(set)
		for i := range sv.NumField() {
			name := sv.Type().Field(i).Name
			if sv.Field(i).IsZero() {
				t.Fatalf("test setting %s is zero", name)
			}
			f := got.FieldByName(name)
			if !f.IsValid() {
				t.Fatalf("BrokerSettings.%s is no broker.Config field", name)
			}
			if !reflect.DeepEqual(f.Interface(), sv.Field(i).Interface()) {
				t.Errorf("spec %s: broker.Config.%s = %v, want the Host's %v", spec.Name, name, f.Interface(), sv.Field(i).Interface())
			}
		}
	}
	// The zero spec's broker gets the documented Limits defaults, not the
	// broker's (100000 connections, sessions that never expire, ...).
	c := h.brokerConfig(&running{}, Spec{Name: "zero"}.WithDefaults())
	if c.MaxConnections != DefaultMaxConnections || c.MaxSessionExpiry != DefaultMaxSessionExpiry ||
		c.MaxConnectRate != DefaultMaxConnectsPerSecond || c.MaxRetainedMessages != DefaultMaxRetainedMessages {
		t.Errorf("zero spec: MaxConnections %d, MaxSessionExpiry %d, MaxConnectRate %g, MaxRetainedMessages %d: want the Limits defaults",
			c.MaxConnections, c.MaxSessionExpiry, c.MaxConnectRate, c.MaxRetainedMessages)
	}
}
