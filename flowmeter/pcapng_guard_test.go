package flowmeter

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/alfd/alfd/internal/shareddata"
)

// readAll reads every frame of a capture through alfd's reader.
func readAll(t *testing.T, data []byte) (frames [][]byte, infos []FrameInfo, err error) {
	t.Helper()
	r, err := newPcapReader("test", bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	for {
		f, info, err := r.Next()
		if errors.Is(err, io.EOF) {
			return frames, infos, nil
		}
		if err != nil {
			return frames, infos, err
		}
		frames, infos = append(frames, bytes.Clone(f)), append(infos, info)
	}
}

// TestNgGuardPassesCaptures: the guard changes nothing in what pcapgo
// reads, for a pcapng written by pcapgo and for the shared one.
func TestNgGuardPassesCaptures(t *testing.T) {
	var file bytes.Buffer
	w, err := pcapgo.NewNgWriter(&file, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	for _, frame := range seedFrames() {
		for k := range min(20, len(frame)) {
			ci := gopacket.CaptureInfo{Timestamp: time.Unix(1_700_000_000+int64(len(want)), 1000), CaptureLength: len(frame) - k, Length: len(frame)}
			if err := w.WritePacket(ci, frame[:len(frame)-k]); err != nil {
				t.Fatal(err)
			}
			want = append(want, frame[:len(frame)-k])
		}
	}
	w.Flush()
	got, infos, err := readAll(t, file.Bytes())
	if err != nil || len(got) != len(want) {
		t.Fatalf("read %d frames of %d: %v", len(got), len(want), err)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) || infos[i].Micros != (1_700_000_000+int64(i))*1e6+1 {
			t.Fatalf("frame %d read back as %x at %d", i, got[i], infos[i].Micros)
		}
	}
	if dir := shareddata.Dir(); dir != "" {
		data, err := os.ReadFile(filepath.Join(dir, "pcap", "ndpi", "doh.pcapng"))
		if err != nil {
			t.Fatal(err)
		}
		ng, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := readAll(t, data)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			f, _, err := ng.ReadPacketData()
			if err != nil {
				if i != len(got) {
					t.Errorf("doh.pcapng: %d frames through the guard, %d without", len(got), i)
				}
				break
			}
			if i >= len(got) || !bytes.Equal(f, got[i]) {
				t.Fatalf("doh.pcapng: frame %d differs through the guard", i)
			}
		}
	}
}

// TestCaptureClaims: files that claim more than they hold are read
// without allocating what they claim, or refused by name.
func TestCaptureClaims(t *testing.T) {
	le := binary.LittleEndian
	// A pcap whose header claims a 4 GiB snapshot length, with one frame.
	pcap := le.AppendUint32(nil, 0xa1b2c3d4)
	pcap = le.AppendUint16(pcap, 2)
	pcap = le.AppendUint16(pcap, 4)
	pcap = append(pcap, make([]byte, 8)...)
	pcap = le.AppendUint32(pcap, 0xffffffff)
	pcap = le.AppendUint32(pcap, 1)
	pcap = append(le.AppendUint32(le.AppendUint32(le.AppendUint32(le.AppendUint32(pcap, 1), 0), 10), 10), make([]byte, 10)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	frames, _, err := readAll(t, pcap)
	runtime.ReadMemStats(&after)
	if err != nil || len(frames) != 1 {
		t.Errorf("pcap with a 4 GiB snapshot length: %d frames, %v", len(frames), err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 2*maxSnap {
		t.Errorf("reading a 50-byte pcap allocated %d bytes", grew)
	}

	// pcapng: a section, then an interface or a packet block as given.
	section := []byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0}
	iface := func(snap uint32) []byte {
		b := le.AppendUint32(le.AppendUint32(nil, 1), 20)
		b = le.AppendUint32(le.AppendUint32(b, 1), snap) // Ethernet
		return le.AppendUint32(b, 20)
	}
	packet := func(capLen uint32) []byte {
		b := le.AppendUint32(le.AppendUint32(nil, 6), 48)
		b = le.AppendUint32(le.AppendUint32(le.AppendUint32(b, 0), 0), 0)
		b = le.AppendUint32(le.AppendUint32(b, capLen), capLen)
		return le.AppendUint32(append(b, make([]byte, 16)...), 48)
	}
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"a 4 GiB snapshot length", join(section, iface(0xffffffff), packet(16)), "snapshot length of 4294967295"},
		{"a packet longer than its block", join(section, iface(0), packet(1<<30)), "a packet of 1073741824 bytes in a block of 48"},
		{"a block of 5 bytes", join(section, le.AppendUint32(le.AppendUint32(nil, 1), 5)), "is 5 bytes long"},
	} {
		_, _, err := readAll(t, tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
	if frames, _, err := readAll(t, join(section, iface(0), packet(16))); err != nil || len(frames) != 1 || len(frames[0]) != 16 {
		t.Errorf("a well-formed pcapng of one frame: %d frames, %v", len(frames), err)
	}
}

// TestPcapngInterfacesOfTwoLinkTypes: a pcapng whose interfaces differ in
// link type (Ethernet, and raw IP: as dumpcap -i eth0 -i tun0 writes) is
// read whole, each frame decoded as its interface's; a flow seen on both
// counts every packet.
func TestPcapngInterfacesOfTwoLinkTypes(t *testing.T) {
	var file bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&file, pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet, SnapLength: 65535}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypeRaw, SnapLength: 65535})
	if err != nil {
		t.Fatal(err)
	}
	ip := []byte{0x45, 0, 0, 33, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 192, 0, 2, 1, // IPv4, UDP
		0xc3, 0x50, 0, 53, 0, 13, 0, 0, 'q', 'u', 'e', 'r', 'y'}
	ether := append(append(make([]byte, 12), 0x08, 0x00), ip...)
	for i, onRaw := range []bool{false, true, false, true, false} {
		frame, iface := ether, 0
		if onRaw {
			frame, iface = ip, raw
		}
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1_700_000_000, int64(i)*1000), CaptureLength: len(frame), Length: len(frame), InterfaceIndex: iface}
		if err := w.WritePacket(ci, frame); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	_, infos, err := readAll(t, file.Bytes())
	if err != nil || len(infos) != 5 || infos[0].Link != LinkEthernet || infos[1].Link != LinkRaw {
		t.Fatalf("frames read: %+v, %v", infos, err)
	}
	r, err := newPcapReader("mixed.pcapng", bytes.NewReader(file.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMeter(Config{}, r.Link())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.ReadPcap(context.Background(), r, false); err != nil {
		t.Fatal(err)
	}
	m.Finish(context.Background())
	m.Flush()
	var packets []uint32
	for f := m.Ring().Next(); f != nil; f = m.Ring().Next() {
		packets = append(packets, f.Packets())
	}
	if len(packets) != 1 || packets[0] != 5 || m.Stats().Skipped[NotIP].Load() != 0 {
		t.Errorf("flows of %v packets, %d frames not IP; want one flow of 5", packets, m.Stats().Skipped[NotIP].Load())
	}
}
