//go:build amd64 && !purego

#include "textflag.h"

// Registers: SI the split, BX the first split (ends are byte offsets from
// it), R10 past the feature's last split, R8 the feature's end, CX the
// features left, DX the flows' keys of the feature, DI the bitvectors;
// Z0 and Z1 the sixteen flows' keys, K3 which of them fail a split (K1 and
// K2 for each half), Z3 and Z4 the bitvectors of two splits' trees.

// SPLIT tests the split OFF bytes past SI (B gets its key). The flows
// whose key is above its threshold (predicate 6: not less or equal) go
// right: they lose the leaves of its left subtree.
#define SPLIT(OFF, B, R, Z) \
	VPBROADCASTQ	OFF(SI), B; \
	VPCMPQ	$6, B, Z0, K1; \
	VPCMPQ	$6, B, Z1, K2; \
	KUNPCKBW	K1, K2, K3; \
	MOVL	(OFF+12)(SI), R; \
	VMOVDQU32	(DI)(R*1), Z; \
	VPORD.BCST	(OFF+8)(SI), Z, K3, Z; \
	VMOVDQU32	Z, (DI)(R*1)

// func quickMaskAVX512(nodes *qsNode, ends *uint32, nFeatures int, keys *[32][16]int64, lost *[128][16]uint32)
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
	VMOVDQU64	64(DX), Z1
	CMPQ	SI, R10
	JAE	next

split:
	// Two splits a round (quickUnroll): each feature has an even number.
	SPLIT(0, Z2, AX, Z3)
	SPLIT(16, Z5, R11, Z4)
	KORTESTW	K3, K3
	JZ	passed
	ADDQ	$32, SI
	CMPQ	SI, R10
	JB	split
	JMP	next

passed:
	// All sixteen pass the second split, and so every later one of the
	// feature, whose thresholds are no lower.
	MOVQ	R10, SI

next:
	ADDQ	$128, DX
	ADDQ	$4, R8
	DECQ	CX
	JNZ	feature

done:
	VZEROUPPER
	RET

// func quickSumAVX512(lost *[128][16]uint32, firstLeaf *uint32, nTrees int, leaves *float64, sums *[16]float64)
//
// Per tree: the lowest leaf not lost, (lost+1) &^ lost, numbered by its
// leading zeros; the leaves of eight flows in one gather, added to their
// sums in one instruction, tree after tree as the scalar sums go.
TEXT ·quickSumAVX512(SB), NOSPLIT, $0-40
	MOVQ	lost+0(FP), DI
	MOVQ	firstLeaf+8(FP), R8
	MOVQ	nTrees+16(FP), CX
	MOVQ	leaves+24(FP), SI
	MOVQ	sums+32(FP), DX
	VMOVUPD	(DX), Z0
	VMOVUPD	64(DX), Z8
	VPTERNLOGD	$0xff, Z7, Z7, Z7
	VPXORD	Z6, Z6, Z6
	MOVL	$31, AX
	VPBROADCASTD	AX, Z5

tree:
	VMOVDQU32	(DI), Z1
	VPSUBD	Z7, Z1, Z2
	VPANDND	Z2, Z1, Z2
	VPLZCNTD	Z2, Z2
	VPBROADCASTD	(R8), Z3
	VPADDD	Z5, Z3, Z3
	VPSUBD	Z2, Z3, Z3
	KXNORW	K1, K1, K1
	VGATHERDPD	(SI)(Y3*8), K1, Z4
	VEXTRACTI64X4	$1, Z3, Y9
	KXNORW	K2, K2, K2
	VGATHERDPD	(SI)(Y9*8), K2, Z10
	VADDPD	Z4, Z0, Z0
	VADDPD	Z10, Z8, Z8
	VMOVDQU32	Z6, (DI)
	ADDQ	$64, DI
	ADDQ	$4, R8
	DECQ	CX
	JNZ	tree

	VMOVUPD	Z0, (DX)
	VMOVUPD	Z8, 64(DX)
	VZEROUPPER
	RET
