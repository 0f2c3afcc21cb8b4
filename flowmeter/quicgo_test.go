package flowmeter

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"
)

// datagram is a UDP datagram a relay passed, and which way.
type datagram struct {
	fromClient bool
	payload    []byte
}

// relay passes the datagrams between a client and the server at server,
// and keeps them; the client sends to its address.
type relay struct {
	client, toServer *net.UDPConn
	server           *net.UDPAddr
	mu               sync.Mutex
	seen             []datagram
}

func newRelay(t *testing.T, server *net.UDPAddr) *relay {
	t.Helper()
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	r := &relay{client: listen(), toServer: listen(), server: server}
	var clientAddr sync.Map
	var wg sync.WaitGroup
	pass := func(from, to *net.UDPConn, fromClient bool) {
		defer wg.Done()
		buf := make([]byte, 1<<16)
		for {
			n, addr, err := from.ReadFromUDP(buf)
			if err != nil {
				return // closed
			}
			r.mu.Lock()
			r.seen = append(r.seen, datagram{fromClient, append([]byte(nil), buf[:n]...)})
			r.mu.Unlock()
			if fromClient {
				clientAddr.Store("client", addr)
				to.WriteToUDP(buf[:n], r.server)
			} else if a, ok := clientAddr.Load("client"); ok {
				to.WriteToUDP(buf[:n], a.(*net.UDPAddr))
			}
		}
	}
	wg.Add(2)
	go pass(r.client, r.toServer, true)
	go pass(r.toServer, r.client, false)
	t.Cleanup(func() {
		r.client.Close()
		r.toServer.Close()
		wg.Wait()
	})
	return r
}

// selfSigned is a certificate for the test's server.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dns.example.net"},
		DNSNames: []string{"dns.example.net"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestQUICOfQuicGo: a real QUIC client's connection, quic-go's with Go's
// TLS (its hello offers a post-quantum key share, over two Initial
// packets), gives its flow the server name it dialled, the version it
// spoke, and a JA4 over QUIC; the datagrams are those a relay between
// client and server saw.
func TestQUICOfQuicGo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, version := range []quicgo.Version{quicgo.Version1, quicgo.Version2} {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := quicgo.Listen(conn, &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, NextProtos: []string{"doq"}},
			&quicgo.Config{Versions: []quicgo.Version{version}})
		if err != nil {
			t.Fatal(err)
		}
		accepted := make(chan error, 1)
		go func() {
			c, err := ln.Accept(ctx)
			if err == nil {
				<-c.HandshakeComplete()
				c.CloseWithError(0, "")
			}
			accepted <- err
		}()
		r := newRelay(t, conn.LocalAddr().(*net.UDPAddr))
		c, err := quicgo.DialAddr(ctx, r.client.LocalAddr().String(),
			&tls.Config{ServerName: "dns.example.net", InsecureSkipVerify: true, NextProtos: []string{"doq"}},
			&quicgo.Config{Versions: []quicgo.Version{version}})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if err := <-accepted; err != nil {
			t.Fatalf("accept: %v", err)
		}
		c.CloseWithError(0, "")
		ln.Close()
		conn.Close()

		rig := newRig(t, CacheConfig{TLSFingerprints: true, QUIC: true})
		r.mu.Lock()
		seen := r.seen
		r.mu.Unlock()
		initials := 0
		for _, d := range seen {
			if d.fromClient && d.payload[0]&0x80 != 0 {
				initials++
			}
			rig.add(udp(1, !d.fromClient, 100, d.payload))
		}
		flows := rig.finish()
		if len(flows) != 1 {
			t.Fatalf("%d flows", len(flows))
		}
		f := &flows[0]
		ja4 := string(f.AppendJA4(nil))
		if string(f.SNI()) != "dns.example.net" || f.QUICVersion() != uint32(version) || !strings.HasPrefix(ja4, "q13d") || ja4[8:10] != "dq" {
			t.Errorf("%v: server name %q, version %#x, JA4 %s", version, f.SNI(), f.QUICVersion(), ja4)
		}
		// Its hello takes more than a packet.
		if st := rig.m.Stats(); st.HellosAssembled.Load() != 1 || st.HellosUnassembled.Load() != 0 || st.QUICMalformed.Load() != 0 {
			t.Errorf("%v: %d hellos put together, %d not, %d malformed packets; want 1, 0, 0", version, st.HellosAssembled.Load(), st.HellosUnassembled.Load(), st.QUICMalformed.Load())
		}
		t.Logf("%v: %d datagrams, %d from the client with long headers; JA4 %s", version, len(seen), initials, ja4)
	}
}
