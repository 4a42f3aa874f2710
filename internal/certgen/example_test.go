package certgen_test

import (
	"crypto/tls"
	"fmt"

	"github.com/jmqx/jmqx/internal/certgen"
)

// A test makes a CA with server and client certificates in memory and runs
// mutual TLS over them.
func Example() {
	b, err := certgen.Generate(certgen.Options{Hosts: []string{"127.0.0.1"}})
	if err != nil {
		panic(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", b.ServerConfig(tls.RequireAndVerifyClientCert))
	if err != nil {
		panic(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if err := c.(*tls.Conn).Handshake(); err == nil {
			_, _ = c.Write([]byte("hello"))
		}
	}()

	c, err := tls.Dial("tcp", l.Addr().String(), b.ClientConfig("127.0.0.1"))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	buf := make([]byte, 5)
	n, err := c.Read(buf)
	fmt.Println(string(buf[:n]), err, c.ConnectionState().PeerCertificates[0].Subject.CommonName)
	// Output: hello <nil> 127.0.0.1
}
