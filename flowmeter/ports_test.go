package flowmeter

import (
	"encoding/binary"
	"testing"
)

// portFrame is an IPv4 packet of the protocol (TCP, UDP or ICMP) from
// 10.0.0.1:sport to 192.0.2.1:dport, headers only.
func portFrame(proto uint8, sport, dport uint16) []byte {
	l4 := map[uint8]int{protoTCP: 20, protoUDP: 8, 1: 8}[proto]
	fr := make([]byte, 14+20+l4)
	binary.BigEndian.PutUint16(fr[12:], 0x0800)
	ip := fr[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(ip[2:], uint16(20+l4))
	copy(ip[12:], []byte{10, 0, 0, 1, 192, 0, 2, 1})
	if proto != 1 {
		binary.BigEndian.PutUint16(ip[20:], sport)
		binary.BigEndian.PutUint16(ip[22:], dport)
	}
	switch proto {
	case protoTCP:
		ip[32], ip[33] = 0x50, tcpSYN
	case protoUDP:
		binary.BigEndian.PutUint16(ip[24:], uint16(l4))
	}
	return fr
}

// TestPortFilter states Config.Ports' rule, the eBPF socket filter's: a
// packet is kept when either of its ports is listed for its protocol; the
// others, and packets without ports, are counted as Filtered.
func TestPortFilter(t *testing.T) {
	ports, err := ParsePorts("tcp:443, udp:853")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMeter(Config{Ports: ports}, LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, tc := range []struct {
		proto        uint8
		sport, dport uint16
		kept         bool
	}{
		{protoTCP, 50000, 443, true},
		{protoTCP, 443, 50001, true}, // the server's port as the source
		{protoTCP, 50002, 80, false},
		{protoUDP, 853, 50003, true},
		{protoUDP, 50004, 443, false}, // 443 is listed for TCP only
		{protoUDP, 50005, 853, true},
		{1, 0, 0, false}, // ICMP: no ports
	} {
		before := m.c.skipped[Filtered]
		m.Packet(portFrame(tc.proto, tc.sport, tc.dport), 1_700_000_000_000_000, 60)
		if kept := m.c.skipped[Filtered] == before; kept != tc.kept {
			t.Errorf("protocol %d, %d -> %d: kept %v, want %v", tc.proto, tc.sport, tc.dport, kept, tc.kept)
		}
	}
	m.Flush()
	st := m.Stats()
	var skipped uint64
	for _, r := range SkipReasons() {
		skipped += st.Skipped[r].Load()
	}
	if st.Created.Load() != 4 || st.Skipped[Filtered].Load() != 3 || skipped != 3 {
		t.Errorf("%d flows, %d filtered, %d skipped in all; want 4, 3, 3", st.Created.Load(), st.Skipped[Filtered].Load(), skipped)
	}
	if _, err := NewMeter(Config{Ports: []Port{{1, 7}}}, LinkEthernet); err == nil {
		t.Error("an ICMP port: no error")
	}
}

func TestParsePorts(t *testing.T) {
	for _, s := range []string{"tcp:443,udp:853", "tcp:65535"} {
		if _, err := ParsePorts(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range []string{"tcp", "sctp:443", "tcp:0", "tcp:70000", ""} {
		if _, err := ParsePorts(s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}
