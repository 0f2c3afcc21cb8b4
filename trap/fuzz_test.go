package trap

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/alfd/alfd/internal/shareddata"
)

func FuzzParseTemplate(f *testing.F) {
	f.Add(alfSpec)
	f.Add(everyTypeSpec)
	f.Add("ipaddr SRC_IP,uint16 SRC_PORT,time TIME_FIRST,string TLS_SNI,uint16* PPI_PKT_LENGTHS")
	f.Add(" uint8 A , uint8 A,")
	f.Add("uint128 X")
	f.Fuzz(func(t *testing.T, spec string) {
		tmpl, err := ParseTemplate(spec)
		if err != nil {
			if !errors.Is(err, ErrBadSpec) {
				t.Fatalf("error without ErrBadSpec: %v", err)
			}
			return
		}
		again, err := ParseTemplate(tmpl.Spec())
		if err != nil || !again.Equal(tmpl) || again.StaticSize() != tmpl.StaticSize() {
			t.Fatalf("canonical spec %q does not parse back the same: %v", tmpl.Spec(), err)
		}
	})
}

// fuzzTemplates are the layouts FuzzDecode decodes every input with.
var fuzzTemplates = []string{alfSpec, everyTypeSpec, "ipaddr SRC_IP,uint16 SRC_PORT,time TIME_FIRST,string TLS_SNI,uint16* PPI_PKT_LENGTHS"}

func FuzzDecode(f *testing.F) {
	idle, _ := hex.DecodeString(idleRecordHex)
	f.Add(idle)
	_, recs := testRecords(f, 40)
	f.Add(recs[0])
	f.Add(recs[39])
	f.Add(make([]byte, 167))
	tmpls := make([]*Template, len(fuzzTemplates))
	outs := map[*Template]*Template{}
	for i, s := range fuzzTemplates {
		tmpls[i] = mustTemplate(f, s)
		out, err := tmpls[i].Extend("uint8 DOH,double DOH_PROBA,uint32 MODEL_VERSION")
		if err != nil {
			f.Fatal(err)
		}
		outs[tmpls[i]] = out
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tmpl := range tmpls {
			rec, err := tmpl.Decode(data)
			if err != nil {
				if !errors.Is(err, ErrBadRecord) {
					t.Fatalf("error without ErrBadRecord: %v", err)
				}
				continue
			}
			// Every accessor of a decoded record stays inside it.
			var out []byte
			for i := range tmpl.Fields() {
				f := &tmpl.Fields()[i]
				out = rec.AppendValue(out[:0], f)
				out = rec.AppendValueJSON(out[:0], f)
				if f.Type.Variable() {
					if v := rec.Var(f); len(v)%f.Type.ElemSize() != 0 {
						t.Fatalf("%s: %d bytes", f.Name, len(v))
					}
				} else {
					rec.Uint(f)
				}
			}
			// And it writes back as a valid record of the same values.
			b := NewBuilder(tmpl)
			b.CopyFrom(rec)
			again, err := b.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			rec2, err := tmpl.Decode(again)
			if err != nil {
				t.Fatalf("rebuilt record does not decode: %v", err)
			}
			for i := range tmpl.Fields() {
				f := &tmpl.Fields()[i]
				if !bytes.Equal(rec.AppendValue(nil, f), rec2.AppendValue(nil, f)) {
					t.Fatalf("%s changed when rebuilt", f.Name)
				}
			}
			// AppendCopy, straight or staged, writes what the builder
			// does, into the template alfd sends too.
			for _, to := range []*Template{tmpl, outs[tmpl]} {
				staged := NewBuilder(to)
				staged.CopyFrom(rec)
				want, err := staged.Append(nil)
				got, err2 := NewBuilder(to).AppendCopy(nil, rec)
				if !bytes.Equal(got, want) || (err == nil) != (err2 == nil) {
					t.Fatalf("AppendCopy %x (%v), CopyFrom %x (%v)", got, err2, want, err)
				}
			}
		}
	})
}

func FuzzReader(f *testing.F) {
	// Few, small records: the fuzzer minimizes what it finds, and that is
	// slow on large inputs.
	tmpl, recs := testRecords(f, 4)
	var payload []byte
	for _, r := range recs {
		payload = be.AppendUint16(payload, uint16(len(r)))
		payload = append(payload, r...)
	}
	hello := appendHello(nil, UniRecFormat(tmpl))
	file := be.AppendUint32(bytes.Clone(hello), uint32(len(payload)))
	file = append(file, payload...)
	sock := append(bytes.Clone(hello), make([]byte, socketHeaderLen)...)
	be.PutUint32(sock[len(hello):], uint32(len(payload)+3))
	le.PutUint16(sock[len(hello)+12:], uint16(len(recs)+1))
	sock = append(append(sock, payload...), 0, 1, 0)
	f.Add(file, false)
	f.Add(sock, true)
	f.Add(hello, false)
	f.Add([]byte{}, true)
	f.Add(unknownHello, true)
	f.Fuzz(func(t *testing.T, data []byte, socket bool) {
		src := &fuzzSource{data: data, socket: socket}
		r := newReader(IfcSpec{Kind: 'f', Text: "f:fuzz", Timeout: Wait}, src, InputConfig{})
		// Each call consumes input or ends a stream, so the data runs out.
		for range len(data) + 10 {
			_, err := r.Next()
			var se *StreamError
			switch {
			case err == nil, errors.As(err, &se):
			case errors.Is(err, io.EOF):
				if src.done && r.state == stateOpen {
					return
				}
			case r.Format().Type != DataUniRec:
				// RAW or JSON data: Next refuses it, as it should.
				return
			default:
				t.Fatalf("unexpected error: %v", err)
			}
		}
		t.Fatal("the reader does not come to an end")
	})
}

// fuzzSource serves its data once, framed as a file or as a socket stream.
type fuzzSource struct {
	data   []byte
	socket bool
	done   bool
}

func (s *fuzzSource) next(_, _ context.Context) (io.ReadCloser, string, error) {
	if s.done {
		return nil, "fuzz", io.EOF
	}
	s.done = true
	return io.NopCloser(bytes.NewReader(s.data)), "fuzz", nil
}

func (s *fuzzSource) backoff() {}

func (s *fuzzSource) headerLen() int {
	if s.socket {
		return socketHeaderLen
	}
	return fileHeaderLen
}

func (s *fuzzSource) isSocket() bool { return s.socket }

// FuzzServiceReply feeds any bytes to the reader of a module's service
// reply (alfd stats): it reads them or refuses them, never panics, and
// what it reads encodes again.
func FuzzServiceReply(f *testing.F) {
	if dir := shareddata.Dir(); dir != "" {
		if golden, err := os.ReadFile(filepath.Join(dir, "trap", "service_reply.bin")); err == nil {
			f.Add(golden) // libtrap 1.18.2's
		}
	}
	body := []byte(`{"in_cnt":1,"out_cnt":0,"in":[{"ifc_state":1,"ifc_id":"x","ifc_type":117,"messages":5,"buffers":1,"delay_last":3,"delay_total":0}],"out":[]}`)
	reply := append([]byte{serviceOK, 0, 0, 0}, binary.NativeEndian.AppendUint32(nil, uint32(len(body)+1))...)
	f.Add(append(append(reply, body...), 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := readServiceReply(bytes.NewReader(data))
		if err != nil {
			return
		}
		if _, err := json.Marshal(st); err != nil {
			t.Fatalf("read %+v, which does not encode: %v", st, err)
		}
	})
}
