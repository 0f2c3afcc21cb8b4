//go:build unix

package flowmeter

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestReadPcapsFromAPipe reads a capture from standard input, a pipe whose
// writer (tcpdump -w -) goes quiet without closing it: the frames read are
// metered and published while the reader waits, and when the context ends
// the wait ends too, with the flow sent.
func TestReadPcapsFromAPipe(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	defer pr.Close()
	was := stdinFD
	stdinFD = int(pr.Fd())
	defer func() { stdinFD = was }()

	const packets = 5
	var p preloaded
	for i := range packets {
		fr := tcpFrame(40000, 100)
		p.frames, p.micros, p.wire = append(p.frames, fr), append(p.micros, 1_700_000_000_000_000+int64(i)), append(p.wire, len(fr)+100)
	}
	writePcap(t, pw, p)
	m, err := NewMeter(Config{}, LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.ReadPcaps(ctx, []string{StandardInput}, false) }()

	deadline := time.Now().Add(5 * time.Second)
	for m.Stats().Packets.Load() < packets && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := m.Stats().Packets.Load(); n != packets {
		t.Fatalf("%d packets metered while the reader waits for more; want %d", n, packets)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the reader still waits for the pipe 5 s after its context ended")
	}
	f := m.Ring().Next()
	if f == nil || f.Packets() != packets || f.End() != EndForced {
		t.Fatalf("flow %+v; want one of %d packets, ended as the input stopped", f, packets)
	}
}
