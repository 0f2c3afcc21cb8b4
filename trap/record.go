package trap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"unsafe"
)

var le = binary.LittleEndian

// nativeLE says whether this machine stores integers as UniRec does, so
// that arrays can be copied out of a record as they are.
var nativeLE = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// copyElements copies the first elements of the little-endian array src
// into dst, as many as both hold, and returns how many: in one move where
// the machine is little-endian, else element by element with at.
func copyElements[E any](dst []E, src []byte, at func(int) E) int {
	var e E
	size := int(unsafe.Sizeof(e))
	n := min(len(src)/size, len(dst))
	if nativeLE {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), n*size), src)
		return n
	}
	for i := range dst[:n] {
		dst[i] = at(i)
	}
	return n
}

// ErrBadRecord is wrapped by every error that Template.Decode returns.
var ErrBadRecord = errors.New("malformed UniRec record")

// A Record is a zero-copy view of one UniRec record whose layout has been
// checked against its template. Its accessors read straight from the message
// bytes, so a Record is valid only as long as they are (for a record from a
// Reader, until the next Recv). Accessors take a *Field of the record's own
// template.
type Record struct {
	t *Template
	b []byte
}

// Decode checks that b is a whole record of template t: at least the fixed
// part, and every variable-size field inside the record with a whole number
// of elements. It does not copy b.
func (t *Template) Decode(b []byte) (Record, error) {
	if len(b) < t.staticSize {
		return Record{}, fmt.Errorf("%w: %d bytes, shorter than the template's fixed part of %d", ErrBadRecord, len(b), t.staticSize)
	}
	varLen := len(b) - t.staticSize
	headers := t.varHeaders(b)
	for i, es := range t.varElem {
		h := headers[4*i : 4*i+4]
		off, n := int(le.Uint16(h)), int(le.Uint16(h[2:]))
		if off+n > varLen {
			return Record{}, fmt.Errorf("%w: field %s: data at %d+%d bytes beyond the record's variable part of %d", ErrBadRecord, t.variable[i].Name, off, n, varLen)
		}
		if !wholeElements(n, es) {
			return Record{}, fmt.Errorf("%w: field %s: %d bytes is not a whole number of %d-byte elements", ErrBadRecord, t.variable[i].Name, n, es)
		}
	}
	return Record{t: t, b: b}, nil
}

// varHeaders is the variable-size fields' headers of record b, which holds
// at least the fixed part: they end the fixed part, in field order, each an
// offset into the variable part and a length, 16 bits each.
func (t *Template) varHeaders(b []byte) []byte {
	return b[t.staticSize-4*len(t.variable) : t.staticSize]
}

// wholeElements reports whether n bytes are whole es-byte elements, without
// a division for the power-of-two sizes of every type but macaddr: Decode
// checks every variable-size field of every record.
func wholeElements(n, es int) bool {
	if es&(es-1) == 0 {
		return n&(es-1) == 0
	}
	return n%es == 0
}

// Template is the record's template.
func (r Record) Template() *Template { return r.t }

// Raw returns the whole record.
func (r Record) Raw() []byte { return r.b }

// Uint8 reads a uint8 (or char) field.
func (r Record) Uint8(f *Field) uint8 { return r.b[f.off] }

// Int8 reads an int8 field.
func (r Record) Int8(f *Field) int8 { return int8(r.b[f.off]) }

// Uint16 reads a uint16 field.
func (r Record) Uint16(f *Field) uint16 { return le.Uint16(r.b[f.off:]) }

// Int16 reads an int16 field.
func (r Record) Int16(f *Field) int16 { return int16(le.Uint16(r.b[f.off:])) }

// Uint32 reads a uint32 field.
func (r Record) Uint32(f *Field) uint32 { return le.Uint32(r.b[f.off:]) }

// Int32 reads an int32 field.
func (r Record) Int32(f *Field) int32 { return int32(le.Uint32(r.b[f.off:])) }

// Uint64 reads a uint64 field.
func (r Record) Uint64(f *Field) uint64 { return le.Uint64(r.b[f.off:]) }

// Int64 reads an int64 field.
func (r Record) Int64(f *Field) int64 { return int64(le.Uint64(r.b[f.off:])) }

// Float reads a float field.
func (r Record) Float(f *Field) float32 { return math.Float32frombits(le.Uint32(r.b[f.off:])) }

// Double reads a double field.
func (r Record) Double(f *Field) float64 { return math.Float64frombits(le.Uint64(r.b[f.off:])) }

// Time reads a time field.
func (r Record) Time(f *Field) Time { return Time(le.Uint64(r.b[f.off:])) }

// IP reads an ipaddr field: an IPv4 address when the value is libunirec's
// IPv4 form (8 zero bytes, the address, 4 bytes of 0xff), else IPv6.
func (r Record) IP(f *Field) netip.Addr { return ipAt(r.b[f.off:]) }

// MAC reads a macaddr field.
func (r Record) MAC(f *Field) [6]byte { return [6]byte(r.b[f.off : f.off+6]) }

// Uint reads any unsigned or signed integer field or char as a uint64,
// whatever its width (producers differ in the widths they use for counters).
func (r Record) Uint(f *Field) uint64 {
	switch f.Type {
	case TypeUint8, TypeChar:
		return uint64(r.b[f.off])
	case TypeInt8:
		return uint64(int64(int8(r.b[f.off])))
	case TypeUint16:
		return uint64(le.Uint16(r.b[f.off:]))
	case TypeInt16:
		return uint64(int64(int16(le.Uint16(r.b[f.off:]))))
	case TypeUint32:
		return uint64(le.Uint32(r.b[f.off:]))
	case TypeInt32:
		return uint64(int64(int32(le.Uint32(r.b[f.off:]))))
	case TypeUint64, TypeInt64, TypeTime:
		return le.Uint64(r.b[f.off:])
	}
	return 0
}

// Var returns the bytes of a variable-size field (string, bytes or array).
func (r Record) Var(f *Field) []byte {
	off := r.t.staticSize + int(le.Uint16(r.b[f.off:]))
	end := off + int(le.Uint16(r.b[f.off+2:]))
	return r.b[off:end:end]
}

// String returns a string field's bytes (no copy; convert with string()
// to keep them).
func (r Record) String(f *Field) []byte { return r.Var(f) }

// Uint8s views a uint8*, bytes or string field.
func (r Record) Uint8s(f *Field) []byte { return r.Var(f) }

// Int8s views an int8* field.
func (r Record) Int8s(f *Field) Int8s { return Int8s(r.Var(f)) }

// Uint16s views a uint16* field.
func (r Record) Uint16s(f *Field) Uint16s { return Uint16s(r.Var(f)) }

// Uint32s views a uint32* field.
func (r Record) Uint32s(f *Field) Uint32s { return Uint32s(r.Var(f)) }

// Uint64s views a uint64* field.
func (r Record) Uint64s(f *Field) Uint64s { return Uint64s(r.Var(f)) }

// Times views a time* field.
func (r Record) Times(f *Field) Times { return Times(r.Var(f)) }

// IPs views an ipaddr* field.
func (r Record) IPs(f *Field) IPs { return IPs(r.Var(f)) }

// The array views below read little-endian elements straight from a record.
// Signed views of the other widths reinterpret the unsigned ones
// (int16(v.At(i))).

// Int8s is a view of an int8* array.
type Int8s []byte

// Len is the number of elements.
func (v Int8s) Len() int { return len(v) }

// At returns element i.
func (v Int8s) At(i int) int8 { return int8(v[i]) }

// CopyTo copies the first elements into dst, as many as both hold, and
// returns how many.
func (v Int8s) CopyTo(dst []int8) int { return copyElements(dst, v, v.At) }

// Uint16s is a view of a uint16* (or int16*) array.
type Uint16s []byte

// Len is the number of elements.
func (v Uint16s) Len() int { return len(v) / 2 }

// At returns element i.
func (v Uint16s) At(i int) uint16 { return le.Uint16(v[2*i:]) }

// CopyTo copies the first elements into dst, as many as both hold, and
// returns how many.
func (v Uint16s) CopyTo(dst []uint16) int { return copyElements(dst, v, v.At) }

// Uint32s is a view of a uint32*, int32* or float* array.
type Uint32s []byte

// Len is the number of elements.
func (v Uint32s) Len() int { return len(v) / 4 }

// At returns element i.
func (v Uint32s) At(i int) uint32 { return le.Uint32(v[4*i:]) }

// Uint64s is a view of a uint64*, int64* or double* array.
type Uint64s []byte

// Len is the number of elements.
func (v Uint64s) Len() int { return len(v) / 8 }

// At returns element i.
func (v Uint64s) At(i int) uint64 { return le.Uint64(v[8*i:]) }

// Times is a view of a time* array.
type Times []byte

// Len is the number of elements.
func (v Times) Len() int { return len(v) / 8 }

// At returns element i.
func (v Times) At(i int) Time { return Time(le.Uint64(v[8*i:])) }

// CopyTo copies the first elements into dst, as many as both hold, and
// returns how many.
func (v Times) CopyTo(dst []Time) int { return copyElements(dst, v, v.At) }

// IPs is a view of an ipaddr* array.
type IPs []byte

// Len is the number of elements.
func (v IPs) Len() int { return len(v) / 16 }

// At returns element i.
func (v IPs) At(i int) netip.Addr { return ipAt(v[16*i:]) }

// ipAt decodes the 16-byte UniRec form of an address.
func ipAt(b []byte) netip.Addr {
	a16 := [16]byte(b[:16])
	if le.Uint64(a16[:8]) == 0 && le.Uint32(a16[12:]) == 0xffffffff {
		return netip.AddrFrom4([4]byte(a16[8:12]))
	}
	return netip.AddrFrom16(a16)
}

// putIP encodes an address in the 16-byte UniRec form. An invalid Addr is
// all zeros (libunirec's "::").
func putIP(b []byte, a netip.Addr) {
	switch {
	case a.Is4():
		clear(b[:8])
		a4 := a.As4()
		copy(b[8:12], a4[:])
		le.PutUint32(b[12:], 0xffffffff)
	case a.IsValid():
		a16 := a.As16()
		copy(b[:16], a16[:])
	default:
		clear(b[:16])
	}
}
