package trap

import (
	"encoding/hex"
	"math"
	"strconv"
	"unicode/utf8"
)

// AppendValue appends field f of r as text, as NEMEA's logger shows values:
// numbers in decimal, ipaddr and macaddr in their usual notation, time in
// RFC 3339 with nanoseconds (UTC), string as it is, bytes in hex, and arrays
// as [a,b,c].
func (r Record) AppendValue(dst []byte, f *Field) []byte { return r.appendValue(dst, f, false) }

// AppendValueJSON appends field f of r as a JSON value: numbers, strings for
// addresses, times, string and bytes (hex), lists for arrays. NaN and
// infinities, which JSON lacks, are written as the strings "NaN", "+Inf" and
// "-Inf".
func (r Record) AppendValueJSON(dst []byte, f *Field) []byte { return r.appendValue(dst, f, true) }

func (r Record) appendValue(dst []byte, f *Field, asJSON bool) []byte {
	if !f.Type.Variable() {
		return appendElem(dst, f.Type, r.b[f.off:], asJSON)
	}
	v := r.Var(f)
	switch f.Type {
	case TypeString:
		if asJSON {
			return appendJSONString(dst, v)
		}
		return append(dst, v...)
	case TypeBytes:
		if asJSON {
			dst = append(dst, '"')
		}
		dst = hex.AppendEncode(dst, v)
		if asJSON {
			dst = append(dst, '"')
		}
		return dst
	}
	elem := f.Type.Elem()
	size := elem.Size()
	dst = append(dst, '[')
	for i := 0; i+size <= len(v); i += size {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendElem(dst, elem, v[i:], asJSON)
	}
	return append(dst, ']')
}

// appendElem formats one value of fixed-size type t stored at the start of b.
func appendElem(dst []byte, t Type, b []byte, asJSON bool) []byte {
	switch t {
	case TypeChar:
		if asJSON {
			return appendJSONString(dst, b[:1])
		}
		return append(dst, b[0])
	case TypeUint8:
		return strconv.AppendUint(dst, uint64(b[0]), 10)
	case TypeInt8:
		return strconv.AppendInt(dst, int64(int8(b[0])), 10)
	case TypeUint16:
		return strconv.AppendUint(dst, uint64(le.Uint16(b)), 10)
	case TypeInt16:
		return strconv.AppendInt(dst, int64(int16(le.Uint16(b))), 10)
	case TypeUint32:
		return strconv.AppendUint(dst, uint64(le.Uint32(b)), 10)
	case TypeInt32:
		return strconv.AppendInt(dst, int64(int32(le.Uint32(b))), 10)
	case TypeUint64:
		return strconv.AppendUint(dst, le.Uint64(b), 10)
	case TypeInt64:
		return strconv.AppendInt(dst, int64(le.Uint64(b)), 10)
	case TypeFloat:
		return appendFloat(dst, float64(math.Float32frombits(le.Uint32(b))), 32, asJSON)
	case TypeDouble:
		return appendFloat(dst, math.Float64frombits(le.Uint64(b)), 64, asJSON)
	case TypeIP:
		return quoted(ipAt(b).AppendTo, dst, asJSON)
	case TypeMAC:
		return quoted(func(d []byte) []byte { return appendMAC(d, b) }, dst, asJSON)
	case TypeTime:
		return quoted(Time(le.Uint64(b)).AppendTo, dst, asJSON)
	}
	return dst
}

func quoted(appendText func([]byte) []byte, dst []byte, asJSON bool) []byte {
	if !asJSON {
		return appendText(dst)
	}
	return append(appendText(append(dst, '"')), '"')
}

func appendFloat(dst []byte, v float64, bits int, asJSON bool) []byte {
	if asJSON && (math.IsNaN(v) || math.IsInf(v, 0)) {
		return strconv.AppendQuote(dst, strconv.FormatFloat(v, 'g', -1, bits))
	}
	return strconv.AppendFloat(dst, v, 'g', -1, bits)
}

func appendMAC(dst []byte, b []byte) []byte {
	const digits = "0123456789abcdef"
	for i := range 6 {
		if i > 0 {
			dst = append(dst, ':')
		}
		dst = append(dst, digits[b[i]>>4], digits[b[i]&15])
	}
	return dst
}

// appendJSONString appends s as a JSON string; bytes that are not UTF-8
// become U+FFFD.
func appendJSONString(dst []byte, s []byte) []byte {
	const digits = "0123456789abcdef"
	dst = append(dst, '"')
	for len(s) > 0 {
		c, size := utf8.DecodeRune(s)
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', byte(c))
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', digits[c>>4], digits[c&15])
		default:
			dst = utf8.AppendRune(dst, c)
		}
		s = s[size:]
	}
	return append(dst, '"')
}
