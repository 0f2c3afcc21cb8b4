package trap

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alfd/alfd/internal/shareddata"
)

// socketDir points TRAP_SOCKET_DIR at a fresh directory for the test.
func socketDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("TRAP_SOCKET_DIR", dir)
	return dir
}

// serveConns listens on the u: socket name and answers the i-th connection
// by writing conns[i] and hanging up. It returns when all were served.
func serveConns(t *testing.T, name string, conns ...[]byte) <-chan struct{} {
	t.Helper()
	ln, err := net.Listen("unix", SocketPath(name))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer ln.Close()
		for _, data := range conns {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write(data)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return done
}

func openSocketInput(t *testing.T, spec string) *Reader {
	t.Helper()
	s, err := ParseIfcSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenInput(s, InputConfig{RetryInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func readShared(t *testing.T, elem ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(shareddata.Path(t, elem...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSocketInputReadsLibtrapStream(t *testing.T) {
	socketDir(t)
	// traffic_repeater's stream of data.trapcap.202112071115: the same
	// records as the file, then end of stream.
	serveConns(t, "example", readShared(t, "trap", "u_example.bin"))
	r := openSocketInput(t, "u:example")
	got, skipped := readAll(t, r)
	want, _ := readAll(t, openInput(t, "f:"+shareddata.Path(t, "alf", "trapcaps", "data.trapcap.202112071115")))
	if len(skipped) != 0 || len(got) != 745 {
		t.Fatalf("%d records, errors %v; want 745", len(got), skipped)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d differs from the file's", i)
		}
	}
	if st := r.Stats(); st.Containers != 4 || st.Missed != 0 || st.Streams != 1 {
		t.Errorf("stats %+v, want 4 containers, none missed", st)
	}
}

func TestSocketInputReadsProducerStream(t *testing.T) {
	socketDir(t)
	serveConns(t, "idle", readShared(t, "trap", "u_idle.bin"))
	r := openSocketInput(t, "u:idle")
	recs, skipped := readAll(t, r)
	if len(recs) != 5 || len(skipped) != 0 {
		t.Fatalf("%d records, errors %v; want 5", len(recs), skipped)
	}
	if got := r.Format().Template.Spec(); got != "ipaddr SRC_IP,time TIME_FIRST,uint16 SRC_PORT,string TLS_SNI,uint16* PPI_PKT_LENGTHS" {
		t.Errorf("template %s", got)
	}
	if r.Format().Spec != "ipaddr SRC_IP,uint16 SRC_PORT,time TIME_FIRST,string TLS_SNI,uint16* PPI_PKT_LENGTHS" {
		t.Errorf("spec as sent %q", r.Format().Spec)
	}
	if hex.EncodeToString(recs[0]) != idleRecordHex {
		t.Errorf("record 0 is %x", recs[0])
	}
}

// idleParts splits u_idle.bin into its hello and its containers.
func idleParts(t *testing.T) (hello []byte, containers [][]byte) {
	b := readShared(t, "trap", "u_idle.bin")
	return b[:0x5c], [][]byte{b[0x5c:0xfd], b[0xfd:0x16d], b[0x16d:]}
}

func TestSocketInputWaitsForFormat(t *testing.T) {
	socketDir(t)
	// An output whose format is not set yet answers with 8 zero bytes and
	// hangs up; the reader tries again.
	serveConns(t, "late", readShared(t, "trap", "u_fmt_unknown.bin"), readShared(t, "trap", "u_idle.bin"))
	r := openSocketInput(t, "u:late")
	recs, skipped := readAll(t, r)
	if len(recs) != 5 || len(skipped) != 0 {
		t.Fatalf("%d records, errors %v; want 5", len(recs), skipped)
	}
	if st := r.Stats(); st.NotReady != 1 || st.Streams != 2 {
		t.Errorf("stats %+v, want one not-ready reply and two connections", st)
	}
}

func TestSocketInputRetriesAcrossTimeouts(t *testing.T) {
	// A timeout shorter than the retry interval: the wait before trying
	// again spans several Recv calls instead of starting over in each.
	socketDir(t)
	serveConns(t, "late", readShared(t, "trap", "u_fmt_unknown.bin"), readShared(t, "trap", "u_idle.bin"))
	spec, _ := ParseIfcSpec("u:late:timeout=20000")
	r, err := OpenInput(spec, InputConfig{RetryInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	records, timeouts := 0, 0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		_, err := r.Next()
		if errors.Is(err, ErrTimeout) {
			timeouts++
			continue
		}
		if err != nil {
			break
		}
		records++
	}
	if records != 5 || timeouts < 3 {
		t.Errorf("%d records after %d timeouts, want 5 after a few", records, timeouts)
	}
}

func TestSocketInputRecovers(t *testing.T) {
	hello, cs := idleParts(t)
	full := readShared(t, "trap", "u_idle.bin")
	oversize := append(bytes.Clone(hello), 0, 2, 0, 0) // data_length 131072
	oversize = append(oversize, make([]byte, 10)...)
	for _, tc := range []struct {
		name    string
		first   []byte
		records int // from the first connection
		errs    int
		want    string
	}{
		{"container over libtrap's buffer", oversize, 0, 1, "container of 131072 bytes is longer than libtrap's 100000-byte buffer"},
		{"connection lost inside a container", append(bytes.Clone(hello), cs[0][:50]...), 0, 1, "stream ends inside a container"},
		{"connection lost between containers", append(bytes.Clone(hello), cs[0]...), 3, 0, ""},
		{"unknown data type", append([]byte{9}, hello[1:]...), 0, 1, "unknown data type 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			socketDir(t)
			serveConns(t, "s", tc.first, full)
			r := openSocketInput(t, "u:s")
			recs, skipped := readAll(t, r)
			if len(recs) != tc.records+5 || len(skipped) != tc.errs {
				t.Fatalf("%d records, errors %v; want %d and %d errors", len(recs), skipped, tc.records+5, tc.errs)
			}
			if tc.errs > 0 && !strings.Contains(skipped[0].Error(), tc.want) {
				t.Errorf("error %q, want %q", skipped[0], tc.want)
			}
			if tc.errs > 0 && !strings.Contains(skipped[0].Error(), "u:s") {
				t.Errorf("error %q does not name the interface", skipped[0])
			}
			if r.Stats().Streams != 2 {
				t.Errorf("%d connections, want 2", r.Stats().Streams)
			}
		})
	}
}

func TestSocketInputCountsMissedMessages(t *testing.T) {
	socketDir(t)
	hello, cs := idleParts(t)
	// Without the second container (seq 3, 2 messages) the third one's
	// sequence number 5 shows two messages missed.
	serveConns(t, "gap", bytes.Join([][]byte{hello, cs[0], cs[2]}, nil))
	r := openSocketInput(t, "u:gap")
	recs, _ := readAll(t, r)
	if len(recs) != 3 || r.Stats().Missed != 2 {
		t.Errorf("%d records, %d missed; want 3 and 2", len(recs), r.Stats().Missed)
	}
}

func TestSocketInputTimeoutAndClose(t *testing.T) {
	socketDir(t)
	r := openSocketInput(t, "u:nobody:timeout=50000")
	start := time.Now()
	if _, err := r.Recv(); !errors.Is(err, ErrTimeout) {
		t.Errorf("Recv with nobody serving: %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 40*time.Millisecond || d > 2*time.Second {
		t.Errorf("timeout of 50 ms took %v", d)
	}

	blocked := openSocketInput(t, "u:nobody")
	errc := make(chan error)
	go func() {
		_, err := blocked.Recv()
		errc <- err
	}()
	time.Sleep(30 * time.Millisecond)
	blocked.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Recv after Close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not unblock Recv")
	}
}

// testRecords makes n records of the ALF template with distinct values.
func testRecords(tb testing.TB, n int) (*Template, [][]byte) {
	tmpl := mustTemplate(tb, alfSpec)
	b := NewBuilder(tmpl)
	recs := make([][]byte, n)
	for i := range recs {
		b.Reset()
		b.SetIP(tmpl.Field("SRC_IP"), netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
		b.SetIP(tmpl.Field("DST_IP"), netip.MustParseAddr("2001:db8::53"))
		b.SetUint(tmpl.Field("PACKETS"), uint64(i))
		b.SetUint(tmpl.Field("DST_PORT"), 443)
		b.SetTime(tmpl.Field("TIME_FIRST"), TimeFromUnix(1638540027+int64(i), 0))
		b.SetString(tmpl.Field("TLS_SNI"), fmt.Sprintf("host%d.example", i))
		for k := range i % 31 {
			b.AppendElem(tmpl.Field("PPI_PKT_LENGTHS"), uint64(40+k*i%1400))
			b.AppendElem(tmpl.Field("PPI_PKT_DIRECTIONS"), uint64(1-2*(k%2)))
			b.AppendElem(tmpl.Field("PPI_PKT_TIMES"), uint64(TimeFromUnix(1638540027+int64(i), int64(k)*1e6)))
		}
		recs[i], _ = b.Append(nil)
	}
	return tmpl, recs
}

// collect reads records in the background until the end of the stream; the
// function it returns waits for them.
func collect(t *testing.T, r *Reader) func() [][]byte {
	out := make(chan [][]byte, 1)
	go func() {
		var recs [][]byte
		for {
			rec, err := r.Next()
			if err != nil {
				if err != io.EOF {
					t.Errorf("%s: %v", r.Name(), err)
				}
				out <- recs
				return
			}
			recs = append(recs, bytes.Clone(rec.Raw()))
		}
	}()
	return func() [][]byte {
		select {
		case recs := <-out:
			return recs
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: no end of stream", r.Name())
			return nil
		}
	}
}

func waitClients(t *testing.T, w *Writer, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); w.Stats().Clients != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d readers connected, want %d", w.Stats().Clients, n)
		}
	}
}

func sendAll(t *testing.T, w *Writer, recs [][]byte) {
	t.Helper()
	for _, rec := range recs {
		if err := w.Send(rec); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSocketRoundTrip(t *testing.T) {
	for _, kind := range []string{"u", "t"} {
		t.Run(kind, func(t *testing.T) {
			socketDir(t)
			outSpec, inSpec := "u:rt", "u:rt"
			if kind == "t" {
				outSpec = "t:0"
			}
			w := openOutput(t, outSpec)
			if kind == "t" {
				inSpec = fmt.Sprintf("t:127.0.0.1:%d", w.Addr().(*net.TCPAddr).Port)
			}
			tmpl, recs := testRecords(t, 20000)
			if err := w.SetFormat(UniRecFormat(tmpl)); err != nil {
				t.Fatal(err)
			}
			first := collect(t, openSocketInput(t, inSpec))
			waitClients(t, w, 1)
			sendAll(t, w, recs[:7000])
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			// A second reader joins midway and starts at the next container.
			second := collect(t, openSocketInput(t, inSpec))
			waitClients(t, w, 2)
			if err := w.SendBatch(recs[7000:]); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			for i, tc := range []struct {
				got  [][]byte
				want [][]byte
			}{{first(), recs}, {second(), recs[7000:]}} {
				if len(tc.got) != len(tc.want) {
					t.Fatalf("reader %d got %d records, want %d", i+1, len(tc.got), len(tc.want))
				}
				for k := range tc.want {
					if !bytes.Equal(tc.got[k], tc.want[k]) {
						t.Fatalf("reader %d: record %d differs", i+1, k)
					}
				}
			}
			if st := w.Stats(); st.Messages != 20000 || st.Dropped != 0 {
				t.Errorf("writer stats %+v", st)
			}
			if kind == "u" {
				if _, err := os.Stat(SocketPath("rt")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("socket file left behind: %v", err)
				}
			}
		})
	}
}

func TestSocketOutputFormatChange(t *testing.T) {
	socketDir(t)
	w := openOutput(t, "u:fc")
	a, recsA := testRecords(t, 100)
	b := mustTemplate(t, "uint32 N,string S")
	if err := w.SetFormat(UniRecFormat(a)); err != nil {
		t.Fatal(err)
	}
	r := openSocketInput(t, "u:fc")
	got := collect(t, r)
	waitClients(t, w, 1)
	sendAll(t, w, recsA)
	// The reader takes everything of the old format, is disconnected,
	// reconnects for the new hello; Send waits for a reader of the new one.
	if err := w.SetFormat(UniRecFormat(b)); err != nil {
		t.Fatal(err)
	}
	bb := NewBuilder(b)
	var recsB [][]byte
	for i := range 50 {
		bb.Reset()
		bb.SetUint(b.Field("N"), uint64(i))
		bb.SetString(b.Field("S"), "new")
		rec, _ := bb.Append(nil)
		recsB = append(recsB, rec)
	}
	sendAll(t, w, recsB)
	// Under WAIT, Flush holds on until the reader is back: what Close
	// sends while nobody of the new format is connected would be dropped.
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	all := got()
	if len(all) != 150 {
		t.Fatalf("%d records, want 150", len(all))
	}
	if !bytes.Equal(all[99], recsA[99]) || !bytes.Equal(all[100], recsB[0]) {
		t.Error("records out of order across the format change")
	}
	if st := r.Stats(); st.FormatChanges != 1 || st.Streams != 2 {
		t.Errorf("reader stats %+v, want one format change over two connections", st)
	}
}

func TestSocketOutputTimeouts(t *testing.T) {
	socketDir(t)
	tmpl, recs := testRecords(t, 300)

	// NO_WAIT with nobody connected drops.
	nowait := openOutput(t, "u:nw:timeout=NO_WAIT")
	nowait.SetFormat(UniRecFormat(tmpl))
	sendAll(t, nowait, recs)
	nowait.Flush()
	if st := nowait.Stats(); st.Dropped != 300 || st.Containers != 0 {
		t.Errorf("NO_WAIT without readers: %+v, want 300 dropped", st)
	}

	// WAIT (the default) holds the sender until a reader connects. (100
	// records fill less than a container, so Send itself does not block.)
	wait := openOutput(t, "u:w")
	wait.SetFormat(UniRecFormat(tmpl))
	sendAll(t, wait, recs[:100])
	flushed := make(chan error)
	go func() { flushed <- wait.Flush() }()
	select {
	case <-flushed:
		t.Fatal("Flush with no reader returned under WAIT")
	case <-time.After(50 * time.Millisecond):
	}
	got := collect(t, openSocketInput(t, "u:w"))
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	wait.Close()
	if n := len(got()); n != 100 {
		t.Errorf("reader got %d records, want 100", n)
	}

	// Close gives up a Send that waits for a reader.
	stuck := openOutput(t, "u:st:buffer=off")
	stuck.SetFormat(UniRecFormat(tmpl))
	sent := make(chan error)
	go func() { sent <- stuck.Send(recs[0]) }()
	time.Sleep(20 * time.Millisecond)
	go stuck.Close()
	select {
	case <-sent:
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not unblock a waiting Send")
	}
}

func TestSocketOutputAutoflushAndLimits(t *testing.T) {
	socketDir(t)
	tmpl, recs := testRecords(t, 2)
	w := openOutput(t, "u:af:autoflush=20000:max_clients=1")
	w.SetFormat(UniRecFormat(tmpl))
	r := openSocketInput(t, "u:af")
	got := make(chan []byte)
	go func() {
		rec, err := r.Next()
		if err != nil {
			t.Error(err)
		}
		got <- bytes.Clone(rec.Raw())
	}()
	waitClients(t, w, 1)
	// A second reader over max_clients is hung up on without a hello.
	c, err := net.Dial("unix", SocketPath("af"))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Read(make([]byte, 8)); n != 0 {
		t.Errorf("a reader over max_clients got %d bytes", n)
	}
	c.Close()
	// No Flush: autoflush sends the record.
	if err := w.Send(recs[1]); err != nil {
		t.Fatal(err)
	}
	select {
	case rec := <-got:
		if !bytes.Equal(rec, recs[1]) {
			t.Error("wrong record")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("autoflush did not send a lone record")
	}
}

func TestSocketOutputBeforeFormat(t *testing.T) {
	socketDir(t)
	w := openOutput(t, "u:nf")
	c, err := net.Dial("unix", SocketPath("nf"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	if !bytes.Equal(got, unknownHello) {
		t.Errorf("an output without a format sent %x, want 8 zero bytes", got)
	}
	if err := w.Send([]byte{1, 2}); err == nil {
		t.Error("Send before SetFormat succeeded")
	}
}

func TestFileOutputSplitsAndModes(t *testing.T) {
	tmpl, recs := testRecords(t, 3000)
	dir := t.TempDir()

	// size=1: a new numbered file after each megabyte; every file starts
	// with a hello, so the glob reads back everything.
	w := openOutput(t, "f:"+filepath.Join(dir, "s.trapcap")+":size=1")
	w.SetFormat(UniRecFormat(tmpl))
	for range 3 {
		sendAll(t, w, recs)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "s.trapcap.*"))
	if len(files) != 3 || filepath.Base(files[0]) != "s.trapcap.00000" {
		t.Errorf("size split wrote %v", files)
	}
	back, skipped := readAll(t, openInput(t, "f:"+filepath.Join(dir, "s.trapcap.*")))
	if len(back) != 3*len(recs) || len(skipped) != 0 {
		t.Errorf("read back %d records, errors %v", len(back), skipped)
	}

	// a: never overwrites; it takes the first free number.
	for range 2 {
		w := openOutput(t, "f:"+filepath.Join(dir, "a.trapcap")+":a")
		w.SetFormat(UniRecFormat(tmpl))
		sendAll(t, w, recs[:10])
		w.Close()
	}
	for _, name := range []string{"a.trapcap.00000", "a.trapcap.00001"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("append mode: %v", err)
		}
	}

	// time=5 with a clock we move: one file per 5-minute period, named by
	// the period's start in local time.
	clock := time.Date(2026, 11, 25, 10, 7, 0, 0, time.Local)
	spec, _ := ParseIfcSpec("f:" + filepath.Join(dir, "t.trapcap") + ":time=5")
	s, err := newFileSink(spec, func() time.Time { return clock })
	if err != nil {
		t.Fatal(err)
	}
	tw := &Writer{spec: spec, sink: s, limit: s.payloadLimit(), buf: make([]byte, socketHeaderLen)}
	tw.SetFormat(UniRecFormat(tmpl))
	sendAll(t, tw, recs[:5])
	tw.Flush()
	clock = clock.Add(4 * time.Minute)
	sendAll(t, tw, recs[5:10])
	tw.Flush()
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	for name, n := range map[string]int{"t.trapcap.202611251005": 5, "t.trapcap.202611251010": 5} {
		recs, _ := readAll(t, openInput(t, "f:"+filepath.Join(dir, name)))
		if len(recs) != n {
			t.Errorf("%s has %d records, want %d", name, len(recs), n)
		}
	}

	// A new format goes on in a new, numbered file.
	fw := openOutput(t, "f:"+filepath.Join(dir, "f.trapcap"))
	fw.SetFormat(UniRecFormat(tmpl))
	sendAll(t, fw, recs[:3])
	// (A one-byte message would be an end-of-stream mark.)
	other := mustTemplate(t, "uint16 X")
	fw.SetFormat(UniRecFormat(other))
	fw.Send([]byte{7, 0})
	fw.Close()
	r := openInput(t, "f:"+filepath.Join(dir, "f.trapcap")+" "+filepath.Join(dir, "f.trapcap.00000"))
	all, _ := readAll(t, r)
	if len(all) != 4 || r.Stats().FormatChanges != 1 {
		t.Errorf("%d records, %d format changes; want 4 and 1", len(all), r.Stats().FormatChanges)
	}
}

func TestParallelReadersSeeSameStream(t *testing.T) {
	socketDir(t)
	w := openOutput(t, "u:many")
	tmpl, recs := testRecords(t, 5000)
	w.SetFormat(UniRecFormat(tmpl))
	var readers []func() [][]byte
	for range 4 {
		readers = append(readers, collect(t, openSocketInput(t, "u:many")))
	}
	waitClients(t, w, 4)
	var wg sync.WaitGroup
	wg.Go(func() { sendAll(t, w, recs); w.Close() })
	for i, wait := range readers {
		if got := wait(); len(got) != len(recs) {
			t.Errorf("reader %d got %d records", i, len(got))
		}
	}
	wg.Wait()
}

// TestSocketInputShortTimeoutConnects reads with a timeout far shorter than
// a connection takes to set up, from a sender that waits for its reader:
// every record arrives. A connection the sender accepted must not be
// dropped by the reader because its read's deadline passed while it was
// being made: the sender would take it for its reader and send it
// everything.
func TestSocketInputShortTimeoutConnects(t *testing.T) {
	tmpl, recs := testRecords(t, 3000)
	for i := range 100 {
		socketDir(t)
		// A millisecond, as long as the pause between attempts: the
		// connection is made as the read's deadline passes.
		spec, err := ParseIfcSpec(fmt.Sprintf("u:short%d:timeout=1000", i))
		if err != nil {
			t.Fatal(err)
		}
		r, err := OpenInput(spec, InputConfig{RetryInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan int, 1)
		go func() {
			defer r.Close()
			n := 0
			for {
				_, err := r.Next()
				switch {
				case err == nil:
					n++
				case errors.Is(err, ErrTimeout):
				case errors.Is(err, io.EOF):
					got <- n
					return
				default:
					t.Errorf("reader: %v", err)
				}
			}
		}()
		w := openOutput(t, fmt.Sprintf("u:short%d", i))
		if err := w.SetFormat(UniRecFormat(tmpl)); err != nil {
			t.Fatal(err)
		}
		sendAll(t, w, recs)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case n := <-got:
			if n != len(recs) {
				t.Fatalf("round %d: the reader got %d records of %d (reader %+v)", i, n, len(recs), r.Stats())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: the reader got no end of stream", i)
		}
	}
}
