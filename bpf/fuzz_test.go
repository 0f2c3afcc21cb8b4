//go:build linux

package bpf

import (
	"testing"

	"github.com/alfd/alfd/flowmeter"
)

// FuzzFilterAgreesWithMeter runs the socket filter, through the kernel's
// test run, on frames a flow meter with the same ports (TCP 443 and UDP
// 853) also reads, as it does a capture file's. Every frame the meter keys
// (decodes its addresses and ports) and keeps passes; every frame it keys
// and filters out is dropped. The filter may pass what the meter then
// skips, and counts (a TCP header cut short, say): it reads fewer bytes.
// It needs root.
func FuzzFilterAgreesWithMeter(f *testing.F) {
	ports := []flowmeter.Port{{Proto: 6, Port: 443}, {Proto: 17, Port: 853}}
	p := mustLoad(f, "", Config{Ports: ports})
	m, err := flowmeter.NewMeter(flowmeter.Config{Ports: ports, Cache: flowmeter.CacheConfig{Size: 1024}}, flowmeter.LinkEthernet)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(m.Close)
	syn6 := frame(6, client6, server6, 50000, 443, 0x02, 0)
	for _, seed := range [][]byte{
		frame(6, client, server, 50000, 443, 0x02, 0),
		frame(6, server, client, 443, 50000, 0x18, 100),
		frame(17, client, server, 50001, 853, 0, 40),
		frame(17, client, server, 50001, 443, 0, 40),
		syn6,
		withExt6(syn6, ext6{0, make([]byte, 8)}, ext6{44, []byte{0, 0, 0, 1, 0, 0, 0, 1}}),
		withExt6(syn6, ext6{51, make([]byte, 24)}),
		frame(17, server6, client6, 853, 50001, 0, 40),
		withVLANs(frame(6, client, server, 50000, 443, 0x18, 10), [2]uint16{0x8100, 100}),
		withVLANs(syn6, [2]uint16{0x88a8, 200}, [2]uint16{0x8100, 300}),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1514 {
			return // a real link's frames are at most this long
		}
		ret, err := runFilter(p, data)
		if err != nil {
			t.Fatal(err)
		}
		passed := ret != 0
		var pkt flowmeter.Packet
		keyed := flowmeter.Decoder{Link: flowmeter.LinkEthernet}.Decode(data, 0, &pkt) == flowmeter.Decoded
		filtered := m.Stats().Skipped[flowmeter.Filtered].Load()
		m.Packet(data, 0, len(data))
		m.Flush()
		kept := keyed && m.Stats().Skipped[flowmeter.Filtered].Load() == filtered
		if passed != kept && (keyed || !passed) {
			t.Fatalf("the filter passes it: %v; the meter keys it: %v (%+v), keeps it: %v\n% x", passed, keyed, pkt.Key, kept, data)
		}
	})
}
