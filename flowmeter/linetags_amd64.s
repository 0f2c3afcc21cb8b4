//go:build amd64 && !purego

#include "textflag.h"

// func lineTags(line *[16]slot, t uint16) (match, free uint64)
//
// A slot is four 16-bit words, its tag the first: the two 64-byte halves
// of the line are compared word by word, and the tags' bits kept.
TEXT ·lineTags(SB), NOSPLIT, $0-32
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
	MOVQ	CX, match+16(FP)
	KMOVD	K3, CX
	KMOVD	K4, DX
	SHLQ	$32, DX
	ORQ	DX, CX
	ANDQ	R8, CX
	MOVQ	CX, free+24(FP)
	RET
