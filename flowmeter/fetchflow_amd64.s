//go:build amd64 && !purego

#include "textflag.h"

// func fetchFlow(line *[16]slot, t uint16, flows unsafe.Pointer, size uintptr, next *[16]slot) (match, free uint64, record uintptr)
//
// A slot is four 16-bit words, its tag the first: the two 64-byte halves
// of the line are compared word by word, and the tags' bits kept. The
// record of the first slot holding t is fetched (4 cache lines), and the
// line next too (2).
TEXT ·fetchFlow(SB), NOSPLIT, $0-64
	MOVQ	next+32(FP), DI
	PREFETCHT0	(DI)
	PREFETCHT0	64(DI)
	MOVQ	line+0(FP), AX
	MOVWLZX	t+8(FP), BX
	VPBROADCASTW	BX, Z2
	VMOVDQU64	(AX), Z0
	VMOVDQU64	64(AX), Z1
	VPCMPEQW	Z0, Z2, K1
	VPCMPEQW	Z1, Z2, K2
	VPTESTNMW	Z0, Z0, K3
	VPTESTNMW	Z1, Z1, K4
	VZEROUPPER
	MOVQ	$0x1111111111111111, R8
	KMOVD	K1, CX
	KMOVD	K2, DX
	SHLQ	$32, DX
	ORQ	DX, CX
	ANDQ	R8, CX
	MOVQ	CX, match+40(FP)
	KMOVD	K3, R9
	KMOVD	K4, DX
	SHLQ	$32, DX
	ORQ	DX, R9
	ANDQ	R8, R9
	MOVQ	R9, free+48(FP)
	XORQ	DX, DX
	TESTQ	CX, CX
	JZ	done
	// Slot i's tag is bit 4i, the slot 8i bytes in: its record is the
	// uint32 4 bytes further.
	TZCNTQ	CX, CX
	MOVL	4(AX)(CX*2), DX
	IMULQ	size+24(FP), DX
	ADDQ	flows+16(FP), DX
	PREFETCHT0	(DX)
	PREFETCHT0	64(DX)
	PREFETCHT0	128(DX)
	PREFETCHT0	192(DX)

done:
	MOVQ	DX, record+56(FP)
	RET
