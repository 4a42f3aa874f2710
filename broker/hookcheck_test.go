package broker_test

import (
	"strings"
	"testing"

	"github.com/jmqx/jmqx/broker"
)

// mistypedPublish is a ConnectObserver whose OnPublish takes a Message
// instead of a *Message: before CheckHook, New accepted it and OnPublish
// was never called.
type mistypedPublish struct{}

func (mistypedPublish) OnConnect(*broker.ClientInfo)                 {}
func (mistypedPublish) OnDisconnect(*broker.ClientInfo)              {}
func (mistypedPublish) OnConnectionLost(*broker.ClientInfo, error)   {}
func (mistypedPublish) OnPublish(*broker.ClientInfo, broker.Message) {}

// halfObserver has OnConnect but not the rest of ConnectObserver.
type halfObserver struct{}

func (halfObserver) OnConnect(*broker.ClientInfo)                 {}
func (halfObserver) CanPublish(*broker.ClientInfo, string) bool   { return true }
func (halfObserver) CanSubscribe(*broker.ClientInfo, string) bool { return true }

// pointerAuth implements Authenticator on its pointer only.
type pointerAuth struct{}

func (*pointerAuth) Authenticate(*broker.AuthRequest) broker.ReasonCode { return broker.Success }

// goodHook implements two hook interfaces correctly.
type goodHook struct{}

func (goodHook) Authenticate(*broker.AuthRequest) broker.ReasonCode { return broker.Success }
func (goodHook) OnConnectRefused(*broker.RefusedConnect)            {}

// WithHooks refuses a hook value whose methods look like hook methods but
// would be skipped, naming the method and the signature expected.
func TestHookCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		hook any
		want []string // in the error; none: accepted
	}{
		{"mistyped OnPublish", mistypedPublish{}, []string{"OnPublish", "func(*ClientInfo, Message)", "PublishObserver needs OnPublish(*ClientInfo, *Message)"}},
		{"incomplete ConnectObserver", halfObserver{}, []string{"has OnConnect but not OnConnectionLost, OnDisconnect", "ConnectObserver"}},
		{"pointer receiver", pointerAuth{}, []string{"Authenticator only as a pointer"}},
		{"no hook", struct{}{}, []string{"implements no hook interface"}},
		{"nil", nil, []string{"nil hook"}},
		{"good", goodHook{}, nil},
		{"good pointer", &pointerAuth{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := broker.CheckHook(tc.hook)
			_, newErr := broker.New(broker.Config{SysInterval: -1}, broker.WithHooks(tc.hook))
			if len(tc.want) == 0 {
				if err != nil || newErr != nil {
					t.Fatalf("CheckHook: %v; New: %v; want both nil", err, newErr)
				}
				return
			}
			if err == nil || newErr == nil {
				t.Fatalf("CheckHook: %v; New: %v; want both to fail", err, newErr)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) || !strings.Contains(newErr.Error(), w) {
					t.Errorf("CheckHook: %v\nNew: %v\nwant both to mention %q", err, newErr, w)
				}
			}
		})
	}
}
