// Package trap speaks NEMEA's TRAP protocol and its UniRec record format
// as libtrap 1.18 does, in pure Go.
//
// A Template describes the layout of UniRec records: it is parsed from a
// specifier such as "ipaddr SRC_IP,uint16 SRC_PORT,uint16* PPI_PKT_LENGTHS"
// and orders its fields the way libunirec does (fixed-size fields first,
// largest first, then variable-size fields; names break ties). A Record is a
// validated, zero-copy view of one message; a Builder writes records for any
// template.
//
// Interfaces are named by libtrap's IFC_SPEC strings ("u:NAME", "t:HOST:PORT",
// "f:PATH", "b:"). Open an input with OpenInput, which returns a *Reader, and
// an output with OpenOutput, which returns a *Writer. Socket outputs serve
// every connected reader the same containers with the 14-byte container header
// of libtrap >= 1.17; file interfaces use the trapcap layout.
//
// Readers and Writers are used by one goroutine each; Close may be called from
// any goroutine and unblocks a pending Recv or Send.
package trap
