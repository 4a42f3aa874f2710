package admin

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestNewClientAddress(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                          "http://127.0.0.1:18083",
		"10.0.0.1:9000":             "http://10.0.0.1:9000",
		"http://10.0.0.1:9000/":     "http://10.0.0.1:9000",
		"https://admin.example:443": "https://admin.example:443",
	} {
		c, err := NewClient(in, "")
		if err != nil || c.base != want {
			t.Errorf("NewClient(%q) base = %v, %v; want %s", in, c, err, want)
		}
	}
	for _, in := range []string{"ftp://x:1", "http://"} {
		if _, err := NewClient(in, ""); err == nil {
			t.Errorf("NewClient(%q) accepted", in)
		}
	}
}

func TestClientCannotReach(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	c, err := NewClient(addr, "")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Health(ctxT(t))
	want := "cannot reach jmqx admin API at http://" + addr + ": "
	if err == nil || !strings.HasPrefix(err.Error(), want) ||
		!strings.HasSuffix(err.Error(), `; is "jmqx serve" running? (set --server or JMQX_SERVER)`) ||
		strings.Contains(err.Error(), `Get "`) {
		t.Errorf("Health() = %v", err)
	}
}

func TestErrorIs(t *testing.T) {
	t.Parallel()
	for status, want := range map[int]error{400: ErrInvalid, 404: ErrNotFound, 409: ErrExists, 503: ErrNotLeader} {
		err := error(&Error{Status: status, Message: "m"})
		if !errors.Is(err, want) {
			t.Errorf("Error{%d} is not %v", status, want)
		}
		if errors.Is(&Error{Status: http.StatusInternalServerError}, want) {
			t.Errorf("500 is %v", want)
		}
	}
}
