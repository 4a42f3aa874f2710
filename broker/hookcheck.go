package broker

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
)

// CheckHook reports whether h is a usable hook value, as WithHooks (and
// anything else that takes hooks, such as tenant.WithHooks) requires: it
// must implement at least one hook interface (Authenticator,
// EnhancedAuthenticator, Authorizer, ReadAuthorizer, ConnectObserver,
// PublishObserver, SubscriptionObserver, ConnectRefusedObserver), and a
// method named like a hook method must have that method's signature, and
// come with the other methods of its interface. Otherwise the hook would be
// silently skipped for that event: OnPublish(c *ClientInfo, m Message)
// instead of m *Message is refused with an error naming the method, its
// signature and the one expected.
func CheckHook(h any) error {
	if h == nil {
		return errors.New("nil hook")
	}
	t := reflect.TypeOf(h)
	v := reflect.ValueOf(h)
	implemented := 0
	for _, it := range hookInterfaces() {
		if t.Implements(it) {
			implemented++
			continue
		}
		var have, missing []string
		for i := 0; i < it.NumMethod(); i++ {
			want := it.Method(i)
			m := v.MethodByName(want.Name)
			if !m.IsValid() {
				missing = append(missing, want.Name)
				continue
			}
			if got := m.Type(); got != want.Type {
				return fmt.Errorf("%T: method %s has signature %s; %s needs %s%s",
					h, want.Name, signature(got), it.Name(), want.Name, strings.TrimPrefix(signature(want.Type), "func"))
			}
			have = append(have, want.Name)
		}
		if len(have) > 0 {
			return fmt.Errorf("%T: has %s but not %s: %s needs all of them",
				h, strings.Join(have, ", "), strings.Join(missing, ", "), it.Name())
		}
	}
	if implemented > 0 {
		return nil
	}
	if t.Kind() != reflect.Pointer {
		for _, it := range hookInterfaces() {
			if reflect.PointerTo(t).Implements(it) {
				return fmt.Errorf("%T implements %s only as a pointer: pass &value", h, it.Name())
			}
		}
	}
	return fmt.Errorf("%T implements no hook interface", h)
}

// hookInterfaces returns the hook interfaces newHookSet sorts hooks into.
func hookInterfaces() []reflect.Type {
	return []reflect.Type{
		reflect.TypeFor[Authenticator](),
		reflect.TypeFor[EnhancedAuthenticator](),
		reflect.TypeFor[Authorizer](),
		reflect.TypeFor[ReadAuthorizer](),
		reflect.TypeFor[ConnectObserver](),
		reflect.TypeFor[PublishObserver](),
		reflect.TypeFor[SubscriptionObserver](),
		reflect.TypeFor[ConnectRefusedObserver](),
	}
}

// signature formats a method type for an error message, with the
// package's own types unqualified: func(*ClientInfo, Message).
func signature(t reflect.Type) string {
	return ownPackage.ReplaceAllString(t.String(), "")
}

// ownPackage matches this package's qualifier in a type's name.
var ownPackage = regexp.MustCompile(`\bbroker\.`)
