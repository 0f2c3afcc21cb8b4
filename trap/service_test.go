package trap

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// askService asks the service at the other end of conn for its counters
// and returns the reply's JSON, after checking its header and its NUL.
func askService(t *testing.T, conn net.Conn) map[string]any {
	t.Helper()
	var req [serviceHeaderLen]byte
	req[0] = serviceGet
	if _, err := conn.Write(req[:]); err != nil {
		t.Fatal(err)
	}
	var hdr [serviceHeaderLen]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		t.Fatal(err)
	}
	size := binary.NativeEndian.Uint32(hdr[4:])
	body := make([]byte, size)
	if _, err := io.ReadFull(conn, body); err != nil {
		t.Fatal(err)
	}
	if hdr[0] != serviceOK || size == 0 || body[size-1] != 0 {
		t.Fatalf("reply header % x, body ends %q", hdr, body[max(0, len(body)-1):])
	}
	var reply map[string]any
	if err := json.Unmarshal(body[:size-1], &reply); err != nil {
		t.Fatal(err)
	}
	return reply
}

// keys are an object's keys, sorted.
func keys(v any) []string { return slices.Sorted(maps.Keys(v.(map[string]any))) }

// TestService answers as libtrap 1.18.2's service interface does: the
// reply has the header, the NUL and every key of a real reply
// (data/trap/service_reply.bin: a module with an input u:svc_in_none that
// nothing feeds and an output u:svc_out), and its counters follow the
// interfaces' as records go through.
func TestService(t *testing.T) {
	socketDir(t)
	golden := readShared(t, "trap", "service_reply.bin")
	var want map[string]any
	if err := json.Unmarshal(golden[serviceHeaderLen:len(golden)-1], &want); err != nil {
		t.Fatal(err)
	}
	in := openSocketInput(t, "u:svc_in_none")
	out := openOutput(t, "u:svc_out")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, err := ServeService(ctx, func() ServiceStats {
		return ServiceStats{In: []ServiceInput{in.ServiceInput()}, Out: []ServiceOutput{out.ServiceOutput()}}
	})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Path() != ServicePath(os.Getpid()) {
		t.Errorf("socket %s", svc.Path())
	}
	conn, err := net.Dial("unix", svc.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := askService(t, conn)
	if !slices.Equal(keys(got), keys(want)) || got["in_cnt"] != 1.0 || got["out_cnt"] != 1.0 {
		t.Fatalf("reply %v, libtrap's %v", got, want)
	}
	for _, dir := range []string{"in", "out"} {
		g, w := got[dir].([]any)[0], want[dir].([]any)[0]
		if !slices.Equal(keys(g), keys(w)) {
			t.Errorf("%s: keys %v, libtrap's %v", dir, keys(g), keys(w))
		}
		for _, k := range []string{"ifc_id", "ifc_type", "buffers"} {
			if g.(map[string]any)[k] != w.(map[string]any)[k] {
				t.Errorf("%s %s: %v, libtrap's %v", dir, k, g.(map[string]any)[k], w.(map[string]any)[k])
			}
		}
	}

	// Records through a second pair of interfaces: the counters follow.
	tmpl, recs := testRecords(t, 5000)
	w := openOutput(t, "u:svc_pair")
	if err := w.SetFormat(UniRecFormat(tmpl)); err != nil {
		t.Fatal(err)
	}
	r := openSocketInput(t, "u:svc_pair")
	read := collect(t, r)
	waitClients(t, w, 1)
	sendAll(t, w, recs)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(read()); n != len(recs) {
		t.Fatalf("%d records read", n)
	}
	ws, rs := w.ServiceOutput(), r.ServiceInput()
	if ws.Sent != 5000 || ws.Buffers != w.Stats().Containers || ws.Buffers < 2 || ws.ID != "svc_pair" || ws.Type != 'u' {
		t.Errorf("output %+v", ws)
	}
	if rs.Messages != 5000 || rs.Buffers != ws.Buffers || rs.State != 0 || rs.ID != "svc_pair" {
		t.Errorf("input %+v after the end of the stream", rs)
	}

	// A request the service does not know ends the connection.
	var bad [serviceHeaderLen]byte
	bad[0] = 11
	conn.Write(bad[:])
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(bad[:1]); !errors.Is(err, io.EOF) {
		t.Errorf("after an unknown request: %v", err)
	}

	// Another service of this process replaces the socket; the first
	// one's end leaves it, the second's removes it.
	second, err := ServeService(context.Background(), func() ServiceStats { return ServiceStats{} })
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	waitFor := func(cond func() bool) bool {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if cond() {
				return true
			}
		}
		return false
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(func() bool { _, err := os.Stat(second.Path()); return err == nil }) {
		t.Fatal("the first service removed the second's socket")
	}
	c2, err := net.Dial("unix", second.Path())
	if err != nil {
		t.Fatal(err)
	}
	if r := askService(t, c2); r["in_cnt"] != 0.0 || len(r["in"].([]any)) != 0 {
		t.Errorf("an empty module's reply %v", r)
	}
	c2.Close()
	second.Close()
	if _, err := os.Stat(second.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
}

// TestQueryLibtrapService: alfd stats reads libtrap 1.18.2's own reply
// (data/trap/service_reply.bin), and refuses what is not one.
func TestQueryLibtrapService(t *testing.T) {
	dir := socketDir(t)
	golden := readShared(t, "trap", "service_reply.bin")
	path := dir + "/trap-service_1.sock"
	for _, tc := range []struct {
		reply []byte
		want  string
	}{
		{golden, ""},
		{append([]byte{13}, golden[1:]...), "reply 13"},
		{golden[:serviceHeaderLen+10], "unexpected EOF"},
		{append(golden[:len(golden)-1:len(golden)-1], '}', 0), "invalid character"},
	} {
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			var req [serviceHeaderLen]byte
			if _, err := io.ReadFull(c, req[:]); err == nil && req[0] == serviceGet {
				c.Write(tc.reply)
			}
			c.Close()
		}()
		st, err := QueryService(path, 5*time.Second)
		ln.Close()
		if tc.want != "" {
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("reply % x...: %v, want %q", tc.reply[:8], err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if st.InCount != 1 || st.OutCount != 1 || st.In[0].ID != "svc_in_none" || st.In[0].Type != 'u' || st.In[0].DelayLast != 1087 ||
			st.Out[0].ID != "svc_out" || st.Out[0].Clients != 0 || len(st.Out[0].ClientStats) != 1 {
			t.Errorf("libtrap's reply read as %+v", st)
		}
	}
}
