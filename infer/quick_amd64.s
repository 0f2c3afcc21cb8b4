//go:build amd64 && !purego

#include "textflag.h"

// Registers: SI the split, BX the first split (ends are byte offsets from
// it), R10 past the feature's last split, R8 the feature's end, CX the
// features left, DX the flows' keys of the feature, DI the bitvectors;
// Z0 the eight flows' keys, K1 and K2 which of them fail two splits, Y1
// and Y2 the bitvectors of their trees.

// func quickMaskAVX512(nodes *qsNode, ends *uint32, nFeatures int, keys *[32][8]int64, lost *[128][8]uint32)
TEXT ·quickMaskAVX512(SB), NOSPLIT, $0-40
	MOVQ	nodes+0(FP), SI
	MOVQ	ends+8(FP), R8
	MOVQ	nFeatures+16(FP), CX
	MOVQ	keys+24(FP), DX
	MOVQ	lost+32(FP), DI
	MOVQ	SI, BX
	TESTQ	CX, CX
	JZ	done

feature:
	MOVL	(R8), R10
	ADDQ	BX, R10
	VMOVDQU64	(DX), Z0
	CMPQ	SI, R10
	JAE	next

split:
	// The flows whose key is above a threshold (predicate 6: not less or
	// equal) go right: they lose the leaves of its left subtree. Two
	// splits a round (quickUnroll): each feature has an even number.
	VPCMPQ.BCST	$6, (SI), Z0, K1
	VPCMPQ.BCST	$6, 16(SI), Z0, K2
	MOVL	12(SI), AX
	MOVL	28(SI), R11
	VMOVDQU	(DI)(AX*1), Y1
	VPORD.BCST	8(SI), Y1, K1, Y1
	VMOVDQU	Y1, (DI)(AX*1)
	VMOVDQU	(DI)(R11*1), Y2
	VPORD.BCST	24(SI), Y2, K2, Y2
	VMOVDQU	Y2, (DI)(R11*1)
	KORTESTW	K2, K2
	JZ	passed
	ADDQ	$32, SI
	CMPQ	SI, R10
	JB	split
	JMP	next

passed:
	// All eight pass the second split, and so every later one of the
	// feature, whose thresholds are no lower.
	MOVQ	R10, SI

next:
	ADDQ	$64, DX
	ADDQ	$4, R8
	DECQ	CX
	JNZ	feature

done:
	VZEROUPPER
	RET

// func quickSumAVX512(lost *[128][8]uint32, firstLeaf *uint32, nTrees int, leaves *float64, sums *[8]float64)
//
// Per tree: the lowest leaf not lost, (lost+1) &^ lost, numbered by its
// leading zeros; the eight flows' leaves in one gather, added to their
// sums in one instruction, tree after tree as the scalar sums go.
TEXT ·quickSumAVX512(SB), NOSPLIT, $0-40
	MOVQ	lost+0(FP), DI
	MOVQ	firstLeaf+8(FP), R8
	MOVQ	nTrees+16(FP), CX
	MOVQ	leaves+24(FP), SI
	MOVQ	sums+32(FP), DX
	VMOVUPD	(DX), Z0
	VPCMPEQD	Y7, Y7, Y7 // -1 in each lane
	VPXOR	Y6, Y6, Y6
	MOVL	$31, AX
	VPBROADCASTD	AX, Y5

tree:
	VMOVDQU	(DI), Y1
	VPSUBD	Y7, Y1, Y2
	VPANDND	Y2, Y1, Y2
	VPLZCNTD	Y2, Y2
	VPBROADCASTD	(R8), Y3
	VPADDD	Y5, Y3, Y3
	VPSUBD	Y2, Y3, Y3
	KXNORW	K1, K1, K1
	VGATHERDPD	(SI)(Y3*8), K1, Z4
	VADDPD	Z4, Z0, Z0
	VMOVDQU	Y6, (DI)
	ADDQ	$32, DI
	ADDQ	$4, R8
	DECQ	CX
	JNZ	tree

	VMOVUPD	Z0, (DX)
	VZEROUPPER
	RET
