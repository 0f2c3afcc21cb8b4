package trap

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
)

// MaxRecordLen is the largest message TRAP can carry (its length is a uint16).
const MaxRecordLen = math.MaxUint16

// ErrRecordTooLong is returned by Builder.Append for a record over
// MaxRecordLen bytes.
var ErrRecordTooLong = errors.New("UniRec record longer than 65535 bytes")

// A Builder writes records of one template. Set the fields, Append the
// record to a buffer, Reset, and start again; after the first records it
// does not allocate. Fields not set are zero (variable-size ones empty).
// A Builder is not safe for concurrent use.
type Builder struct {
	t     *Template
	fixed []byte
	data  []byte // variable-size values, in the order they were set
	spans []span // per variable-size field (Field.Index order), where its value is in data
	last  int    // the variable-size field whose span ends data, or -1

	// CopyFrom's plan for records of planFrom: the fixed-size values as
	// runs of bytes, the variable-size fields one by one.
	planFrom  *Template
	fixedRuns []byteRun
	varSteps  []copyStep
	// varInOrder: varSteps are every variable-size field of both
	// templates, in the same order, so that a record's values can be
	// copied as one block, and their headers, which end the fixed part of
	// every record in field order, as one run: headerRun.
	varInOrder bool
	headerRun  byteRun
}

type span struct{ start, n int }

type copyStep struct {
	from, to *Field
}

// byteRun copies n bytes of a record's fixed part from offset from to
// offset to of the builder's.
type byteRun struct{ from, to, n int }

// NewBuilder returns a Builder for records of t.
func NewBuilder(t *Template) *Builder {
	b := &Builder{t: t, fixed: make([]byte, t.staticSize), spans: make([]span, len(t.fields)), last: -1}
	return b
}

// Template is the template the builder writes.
func (b *Builder) Template() *Template { return b.t }

// Reset clears every field, keeping the buffers.
func (b *Builder) Reset() {
	clear(b.fixed)
	clear(b.spans)
	b.data = b.data[:0]
	b.last = -1
}

// SetUint sets an integer, char or time field, truncating v to its width.
func (b *Builder) SetUint(f *Field, v uint64) { f.PutUint(b.fixed, v) }

// PutUint writes v, truncated to its width, into integer, char or time
// field f of rec, a record of f's template, in place.
func (f *Field) PutUint(rec []byte, v uint64) {
	switch f.Type.Size() {
	case 1:
		rec[f.off] = byte(v)
	case 2:
		le.PutUint16(rec[f.off:], uint16(v))
	case 4:
		le.PutUint32(rec[f.off:], uint32(v))
	case 8:
		le.PutUint64(rec[f.off:], v)
	}
}

// PutDouble writes v into double field f of rec, a record of f's
// template, in place.
func (f *Field) PutDouble(rec []byte, v float64) { le.PutUint64(rec[f.off:], math.Float64bits(v)) }

// SetInt sets a signed integer field.
func (b *Builder) SetInt(f *Field, v int64) { b.SetUint(f, uint64(v)) }

// SetTime sets a time field.
func (b *Builder) SetTime(f *Field, v Time) { le.PutUint64(b.fixed[f.off:], uint64(v)) }

// SetDouble sets a double field.
func (b *Builder) SetDouble(f *Field, v float64) { f.PutDouble(b.fixed, v) }

// SetFloat sets a float field.
func (b *Builder) SetFloat(f *Field, v float32) { le.PutUint32(b.fixed[f.off:], math.Float32bits(v)) }

// SetIP sets an ipaddr field.
func (b *Builder) SetIP(f *Field, a netip.Addr) { putIP(b.fixed[f.off:], a) }

// SetMAC sets a macaddr field.
func (b *Builder) SetMAC(f *Field, m [6]byte) { copy(b.fixed[f.off:], m[:]) }

// SetVar sets a variable-size field (string, bytes, or an array as its
// little-endian elements) to a copy of v.
func (b *Builder) SetVar(f *Field, v []byte) {
	b.spans[f.Index] = span{len(b.data), len(v)}
	b.data = append(b.data, v...)
	b.last = f.Index
}

// SetString sets a string field.
func (b *Builder) SetString(f *Field, s string) {
	b.spans[f.Index] = span{len(b.data), len(s)}
	b.data = append(b.data, s...)
	b.last = f.Index
}

// AppendElem appends one element to an array field: an integer, the raw
// value of a Time, or the bits of a float (math.Float64bits).
func (b *Builder) AppendElem(f *Field, v uint64) {
	s := b.spans[f.Index]
	if b.last != f.Index {
		// Move the value to the end of data so that it can grow.
		moved := len(b.data)
		b.data = append(b.data, b.data[s.start:s.start+s.n]...)
		s.start = moved
		b.last = f.Index
	}
	switch f.Type.ElemSize() {
	case 1:
		b.data = append(b.data, byte(v))
	case 2:
		b.data = le.AppendUint16(b.data, uint16(v))
	case 4:
		b.data = le.AppendUint32(b.data, uint32(v))
	case 8:
		b.data = le.AppendUint64(b.data, v)
	}
	s.n = len(b.data) - s.start
	b.spans[f.Index] = s
}

// Integer is what SetArray takes: integers of any width, and Time.
type Integer interface {
	~int8 | ~uint8 | ~int16 | ~uint16 | ~int32 | ~uint32 | ~int64 | ~uint64
}

// SetArray sets an array field to the elements of v, each truncated to the
// field's element width (floats go in as their bits).
func SetArray[E Integer](b *Builder, f *Field, v []E) {
	start := len(b.data)
	switch f.Type.ElemSize() {
	case 1:
		for _, x := range v {
			b.data = append(b.data, byte(x))
		}
	case 2:
		for _, x := range v {
			b.data = le.AppendUint16(b.data, uint16(x))
		}
	case 4:
		for _, x := range v {
			b.data = le.AppendUint32(b.data, uint32(x))
		}
	case 8:
		for _, x := range v {
			b.data = le.AppendUint64(b.data, uint64(x))
		}
	}
	b.spans[f.Index] = span{start, len(b.data) - start}
	b.last = f.Index
}

// CopyFrom sets every field of the builder's template that rec's template
// has with the same type to rec's value. Fields rec lacks are left alone.
func (b *Builder) CopyFrom(rec Record) {
	if b.planFrom != rec.t {
		b.makePlan(rec.t)
	}
	for _, r := range b.fixedRuns {
		copy(b.fixed[r.to:r.to+r.n], rec.b[r.from:r.from+r.n])
	}
	if b.varInOrder {
		b.copyVarBlock(rec)
		return
	}
	for _, s := range b.varSteps {
		b.SetVar(s.to, rec.Var(s.from))
	}
}

// AppendCopy appends to dst what CopyFrom of rec into a reset builder and
// Append would: rec as a record of the builder's template, its other
// fields zero. When the two templates have the same variable-size fields
// and rec's values lie in field order, as libunirec writes them, it copies
// straight to dst, with no stop in the builder, whose fields it leaves
// alone; otherwise they end up holding rec's.
func (b *Builder) AppendCopy(dst []byte, rec Record) ([]byte, error) {
	if b.planFrom != rec.t {
		b.makePlan(rec.t)
	}
	static := rec.t.staticSize
	if !b.varInOrder || !valuesInOrder(rec) {
		b.Reset()
		b.CopyFrom(rec)
		return b.Append(dst)
	}
	n := b.t.staticSize + len(rec.b) - static
	if n > MaxRecordLen {
		return dst, fmt.Errorf("%w: %d bytes", ErrRecordTooLong, n)
	}
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+b.t.staticSize]
	fixed := dst[start:]
	clear(fixed)
	for _, r := range b.fixedRuns {
		copy(fixed[r.to:r.to+r.n], rec.b[r.from:r.from+r.n])
	}
	// The values keep their places in the variable part, so their headers
	// hold.
	r := b.headerRun
	copy(fixed[r.to:r.to+r.n], rec.b[r.from:r.from+r.n])
	return append(dst, rec.b[static:]...), nil
}

// valuesInOrder reports whether rec's variable-size values fill its
// variable part in field order, one after another.
func valuesInOrder(rec Record) bool {
	headers := rec.t.varHeaders(rec.b)
	off := 0
	for i := 0; i+4 <= len(headers); i += 4 {
		h := le.Uint32(headers[i:])
		if int(h&0xffff) != off {
			return false
		}
		off += int(h >> 16)
	}
	return off == len(rec.b)-rec.t.staticSize
}

// makePlan prepares CopyFrom for records of template from. Fields are laid
// out in the same order in every template (by size, then name), so the
// fields two templates share mostly lie side by side in both: their copies
// merge into a few runs.
func (b *Builder) makePlan(from *Template) {
	b.fixedRuns, b.varSteps = b.fixedRuns[:0], b.varSteps[:0]
	for i := range b.t.fields {
		to := &b.t.fields[i]
		f := from.byName[to.Name]
		switch {
		case f == nil || f.Type != to.Type:
		case to.Type.Variable():
			b.varSteps = append(b.varSteps, copyStep{f, to})
		default:
			n := to.Type.Size()
			if k := len(b.fixedRuns) - 1; k >= 0 && b.fixedRuns[k].from+b.fixedRuns[k].n == f.off && b.fixedRuns[k].to+b.fixedRuns[k].n == to.off {
				b.fixedRuns[k].n += n
			} else {
				b.fixedRuns = append(b.fixedRuns, byteRun{f.off, to.off, n})
			}
		}
	}
	b.varInOrder = len(b.varSteps) == len(b.t.variable) && len(b.varSteps) == len(from.variable)
	for i, s := range b.varSteps {
		b.varInOrder = b.varInOrder && s.from == from.variable[i] && s.to == b.t.variable[i]
	}
	n := 4 * len(from.variable)
	b.headerRun = byteRun{from.staticSize - n, b.t.staticSize - n, n}
	b.planFrom = from
}

// copyVarBlock copies rec's variable-size values in one piece, the whole
// variable part, each span where the record has it. Append writes them out
// in one piece too when they lie in field order, as libunirec and Builder
// write them, and one by one otherwise.
func (b *Builder) copyVarBlock(rec Record) {
	base := len(b.data)
	b.data = append(b.data, rec.b[rec.t.staticSize:]...)
	for i, f := range rec.t.variable {
		b.spans[b.varSteps[i].to.Index] = span{base + int(le.Uint16(rec.b[f.off:])), int(le.Uint16(rec.b[f.off+2:]))}
	}
	if len(b.varSteps) > 0 {
		b.last = b.varSteps[len(b.varSteps)-1].to.Index
	}
}

// Len is the length of the record as it stands.
func (b *Builder) Len() int {
	n := b.t.staticSize
	for _, f := range b.t.variable {
		n += b.spans[f.Index].n
	}
	return n
}

// Append appends the record to dst in libunirec's layout: the fixed part,
// then the variable-size values in template order.
func (b *Builder) Append(dst []byte) ([]byte, error) {
	// The values usually lie in data in field order already (set in that
	// order, or copied as a block): then they go out in one piece.
	off, inOrder := 0, true
	base := 0
	if len(b.t.variable) > 0 {
		base = b.spans[b.t.variable[0].Index].start
	}
	for _, f := range b.t.variable {
		s := b.spans[f.Index]
		le.PutUint16(b.fixed[f.off:], uint16(off))
		le.PutUint16(b.fixed[f.off+2:], uint16(s.n))
		inOrder = inOrder && s.start == base+off
		off += s.n
	}
	if n := b.t.staticSize + off; n > MaxRecordLen {
		return dst, fmt.Errorf("%w: %d bytes", ErrRecordTooLong, n)
	}
	dst = append(dst, b.fixed...)
	if inOrder {
		return append(dst, b.data[base:base+off]...), nil
	}
	for _, f := range b.t.variable {
		s := b.spans[f.Index]
		dst = append(dst, b.data[s.start:s.start+s.n]...)
	}
	return dst, nil
}
