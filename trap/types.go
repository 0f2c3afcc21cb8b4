package trap

import "fmt"

// Type is a UniRec field type.
type Type uint8

// The UniRec types, in libunirec's order.
const (
	TypeString Type = iota
	TypeBytes
	TypeChar
	TypeUint8
	TypeInt8
	TypeUint16
	TypeInt16
	TypeUint32
	TypeInt32
	TypeUint64
	TypeInt64
	TypeFloat
	TypeDouble
	TypeIP
	TypeMAC
	TypeTime
	TypeUint8Array
	TypeInt8Array
	TypeUint16Array
	TypeInt16Array
	TypeUint32Array
	TypeInt32Array
	TypeUint64Array
	TypeInt64Array
	TypeFloatArray
	TypeDoubleArray
	TypeIPArray
	TypeMACArray
	TypeTimeArray
	numTypes
)

// typeInfo is what libunirec's ur_field_type_str, ur_field_type_size and
// ur_field_array_elem_type tables say of each type.
var typeInfo = [numTypes]struct {
	name string
	// size is the byte size of a fixed-size type, or minus the element size
	// of a variable-size one (libunirec sorts fields by this number).
	size int
	elem Type
}{
	TypeString:      {"string", -1, TypeChar},
	TypeBytes:       {"bytes", -1, TypeUint8},
	TypeChar:        {"char", 1, TypeChar},
	TypeUint8:       {"uint8", 1, TypeUint8},
	TypeInt8:        {"int8", 1, TypeInt8},
	TypeUint16:      {"uint16", 2, TypeUint16},
	TypeInt16:       {"int16", 2, TypeInt16},
	TypeUint32:      {"uint32", 4, TypeUint32},
	TypeInt32:       {"int32", 4, TypeInt32},
	TypeUint64:      {"uint64", 8, TypeUint64},
	TypeInt64:       {"int64", 8, TypeInt64},
	TypeFloat:       {"float", 4, TypeFloat},
	TypeDouble:      {"double", 8, TypeDouble},
	TypeIP:          {"ipaddr", 16, TypeIP},
	TypeMAC:         {"macaddr", 6, TypeMAC},
	TypeTime:        {"time", 8, TypeTime},
	TypeUint8Array:  {"uint8*", -1, TypeUint8},
	TypeInt8Array:   {"int8*", -1, TypeInt8},
	TypeUint16Array: {"uint16*", -2, TypeUint16},
	TypeInt16Array:  {"int16*", -2, TypeInt16},
	TypeUint32Array: {"uint32*", -4, TypeUint32},
	TypeInt32Array:  {"int32*", -4, TypeInt32},
	TypeUint64Array: {"uint64*", -8, TypeUint64},
	TypeInt64Array:  {"int64*", -8, TypeInt64},
	TypeFloatArray:  {"float*", -4, TypeFloat},
	TypeDoubleArray: {"double*", -8, TypeDouble},
	TypeIPArray:     {"ipaddr*", -16, TypeIP},
	TypeMACArray:    {"macaddr*", -6, TypeMAC},
	TypeTimeArray:   {"time*", -8, TypeTime},
}

var typeByName = func() map[string]Type {
	m := make(map[string]Type, numTypes)
	for t := Type(0); t < numTypes; t++ {
		m[typeInfo[t].name] = t
	}
	return m
}()

// ParseType returns the type named as in a UniRec specifier ("uint16*").
func ParseType(name string) (Type, error) {
	t, ok := typeByName[name]
	if !ok {
		return 0, fmt.Errorf("unknown UniRec type %q", name)
	}
	return t, nil
}

// String returns the type's name as in a UniRec specifier.
func (t Type) String() string {
	if t >= numTypes {
		return fmt.Sprintf("Type(%d)", uint8(t))
	}
	return typeInfo[t].name
}

// Variable reports whether fields of this type have a variable size
// (string, bytes and arrays).
func (t Type) Variable() bool { return typeInfo[t].size < 0 }

// Size is the byte size of a fixed-size type, 0 for a variable-size one.
func (t Type) Size() int { return max(typeInfo[t].size, 0) }

// Elem is the type of one element of a variable-size type (TypeUint16 for
// uint16*, TypeChar for string, TypeUint8 for bytes); a fixed-size type is
// its own element.
func (t Type) Elem() Type { return typeInfo[t].elem }

// ElemSize is the byte size of one element (of the type itself when fixed).
func (t Type) ElemSize() int {
	s := typeInfo[t].size
	if s < 0 {
		return -s
	}
	return s
}

// sortSize is the number libunirec orders fields by.
func (t Type) sortSize() int { return typeInfo[t].size }
