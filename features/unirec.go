package features

import (
	"fmt"

	"github.com/alfd/alfd/trap"
)

// RequiredSpec lists the UniRec fields the features are computed from, as
// ipfixprobe's basic and pstats plugins export them. The counters may be of
// any integer width.
const RequiredSpec = "uint32 PACKETS,uint32 PACKETS_REV,uint64 BYTES,uint64 BYTES_REV,time TIME_FIRST,time TIME_LAST," +
	"uint16* PPI_PKT_LENGTHS,int8* PPI_PKT_DIRECTIONS,time* PPI_PKT_TIMES"

var integerTypes = []trap.Type{trap.TypeUint8, trap.TypeUint16, trap.TypeUint32, trap.TypeUint64,
	trap.TypeInt8, trap.TypeInt16, trap.TypeInt32, trap.TypeInt64}

// RecordReader fills Flows from UniRec records of one template.
type RecordReader struct {
	t                                    *trap.Template
	packets, packetsRev, bytes, bytesRev *trap.Field
	first, last                          *trap.Field
	lengths, dirs, times                 *trap.Field
}

// NewRecordReader resolves the fields of RequiredSpec in t.
func NewRecordReader(t *trap.Template) (*RecordReader, error) {
	r := &RecordReader{t: t}
	var err error
	lookup := func(dst **trap.Field, name string, types ...trap.Type) {
		if err == nil {
			*dst, err = t.Lookup(name, types...)
		}
	}
	lookup(&r.packets, "PACKETS", integerTypes...)
	lookup(&r.packetsRev, "PACKETS_REV", integerTypes...)
	lookup(&r.bytes, "BYTES", integerTypes...)
	lookup(&r.bytesRev, "BYTES_REV", integerTypes...)
	lookup(&r.first, "TIME_FIRST", trap.TypeTime)
	lookup(&r.last, "TIME_LAST", trap.TypeTime)
	lookup(&r.lengths, "PPI_PKT_LENGTHS", trap.TypeUint16Array)
	lookup(&r.dirs, "PPI_PKT_DIRECTIONS", trap.TypeInt8Array)
	lookup(&r.times, "PPI_PKT_TIMES", trap.TypeTimeArray)
	if err != nil {
		return nil, fmt.Errorf("the DoH features need %s: %w", RequiredSpec, err)
	}
	return r, nil
}

// Template is the template the reader was made for.
func (r *RecordReader) Template() *trap.Template { return r.t }

// Filter is Filter of rec's counters: whether ALF would keep its flow,
// known before reading the rest.
func (r *RecordReader) Filter(rec trap.Record) SkipReason {
	return Filter(rec.Uint(r.packets), rec.Uint(r.packetsRev))
}

// Read fills f from rec, a record of the reader's template. Per-packet
// arrays longer than MaxPackets are cut there; truncated says so.
func (r *RecordReader) Read(rec trap.Record, f *Flow) (truncated bool) {
	f.Packets = rec.Uint(r.packets)
	f.PacketsRev = rec.Uint(r.packetsRev)
	f.Bytes = rec.Uint(r.bytes)
	f.BytesRev = rec.Uint(r.bytesRev)
	f.TimeFirst = rec.Time(r.first)
	f.TimeLast = rec.Time(r.last)

	lengths, dirs, times := rec.Uint16s(r.lengths), rec.Int8s(r.dirs), rec.Times(r.times)
	f.NLengths = lengths.CopyTo(f.Lengths[:])
	f.NDirs = dirs.CopyTo(f.Dirs[:])
	f.NTimes = times.CopyTo(f.Times[:])
	return lengths.Len() > MaxPackets || dirs.Len() > MaxPackets || times.Len() > MaxPackets
}
