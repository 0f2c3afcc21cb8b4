package trap

import (
	"encoding/binary"
	"fmt"
)

var be = binary.BigEndian

// DataType is the kind of data an interface carries, as its hello says.
type DataType uint8

// The TRAP data types.
const (
	// DataUnknown is what an output whose format is not set yet announces.
	DataUnknown DataType = 0
	DataRaw     DataType = 1
	DataUniRec  DataType = 2
	DataJSON    DataType = 3
)

func (d DataType) String() string {
	switch d {
	case DataUnknown:
		return "UNKNOWN"
	case DataRaw:
		return "RAW"
	case DataUniRec:
		return "UNIREC"
	case DataJSON:
		return "JSON"
	}
	return fmt.Sprintf("DataType(%d)", uint8(d))
}

// Format is what a hello announces: the data type and its specifier. For
// UniRec, Template is the parsed specifier.
type Format struct {
	Type     DataType
	Spec     string
	Template *Template
}

// UniRecFormat is the format of UniRec records of t.
func UniRecFormat(t *Template) Format {
	return Format{Type: DataUniRec, Spec: t.Spec(), Template: t}
}

const (
	helloLen = 8 // data_type, 3 bytes padding, spec_len (BE u32)
	// fileHeaderLen is the length of a trapcap buffer header (data_length, BE u32).
	fileHeaderLen = 4
	// socketHeaderLen is the length of a libtrap >= 1.17 socket container
	// header: data_length (BE u32), seq_num (LE u64), msg_count (LE u16).
	socketHeaderLen = 14
	// MaxContainer is libtrap's receive buffer (TRAP_IFC_MESSAGEQ_SIZE): no
	// container payload may be longer, since libtrap's receivers do not check.
	MaxContainer = 100000
	// eosMessage is the end-of-stream message C modules send: one zero byte.
	eosLen = 1
)

// appendHello appends the hello that announces f.
func appendHello(dst []byte, f Format) []byte {
	dst = append(dst, byte(f.Type), 0, 0, 0)
	dst = be.AppendUint32(dst, uint32(len(f.Spec)))
	return append(dst, f.Spec...)
}

// unknownHello is what a socket output sends before its format is set.
var unknownHello = make([]byte, helloLen)

// parseFormat turns the data type and specifier of a hello into a Format,
// reusing a template already parsed from the same specifier.
func parseFormat(dt DataType, spec string, cache map[string]*Template) (Format, error) {
	f := Format{Type: dt, Spec: spec}
	switch dt {
	case DataUniRec:
		t := cache[spec]
		if t == nil {
			var err error
			if t, err = ParseTemplate(spec); err != nil {
				return f, err
			}
			cache[spec] = t
		}
		f.Template = t
	case DataRaw, DataJSON:
	default:
		return f, fmt.Errorf("hello announces unknown data type %d", uint8(dt))
	}
	return f, nil
}
