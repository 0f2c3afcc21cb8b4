//go:build amd64 && !purego

#include "textflag.h"

// Registers: the eight flows' node offsets in AX, BX, CX, DX, SI, DI, R8 and
// R9; the nodes in R10; the flows' keys in R11 (one keyVector, 256 bytes, a
// flow), then out; R12 the feature, then the flow's key; R13 both children;
// R14 the right child, then the leaf bit; R15 the offsets AND-ed, to see
// whether all are leaves.

// STEP moves the flow whose node offset is in I and whose keys start XOFF
// bytes into the flows one level down: to the left child when its key is at
// most the node's, else to the right (fnode: key +0, left +8, right +12,
// feature +16). Both children come in one load: loads, four a step, bound
// the walk more than instructions do.
#define STEP(I, XOFF) \
	MOVL	16(R10)(I*1), R12; \
	MOVQ	XOFF(R11)(R12*1), R12; \
	MOVQ	8(R10)(I*1), R13; \
	MOVQ	R13, R14; \
	SHRQ	$32, R14; \
	CMPQ	R12, 0(R10)(I*1); \
	MOVL	R13, I; \
	CMOVLGT	R14, I

// LEAF writes the value of the leaf at offset I to out, OUT bytes in.
#define LEAF(I, OUT) \
	MOVQ	0(R10)(I*1), R12; \
	MOVQ	R12, OUT(R11)

// func walk8asm(nodes *fnode, root uint32, depth int32, leafBit uint32, x *[8]keyVector, out *[8]float64)
TEXT ·walk8asm(SB), NOSPLIT, $8-40
	MOVQ	nodes+0(FP), R10
	MOVQ	x+24(FP), R11
	MOVL	depth+12(FP), R12
	MOVL	R12, levels-8(SP)
	MOVL	root+8(FP), AX
	MOVL	AX, BX
	MOVL	AX, CX
	MOVL	AX, DX
	MOVL	AX, SI
	MOVL	AX, DI
	MOVL	AX, R8
	MOVL	AX, R9
	TESTL	R12, R12
	JLE	done

level:
	STEP(AX, 0)
	STEP(BX, 256)
	STEP(CX, 512)
	STEP(DX, 768)
	STEP(SI, 1024)
	STEP(DI, 1280)
	STEP(R8, 1536)
	STEP(R9, 1792)
	// Leaves loop to themselves, and only their offsets have the leaf bit:
	// when all eight have it, all flows have arrived.
	MOVL	AX, R15
	ANDL	BX, R15
	ANDL	CX, R15
	ANDL	DX, R15
	ANDL	SI, R15
	ANDL	DI, R15
	ANDL	R8, R15
	ANDL	R9, R15
	MOVL	leafBit+16(FP), R14
	TESTL	R14, R15
	JNZ	done
	DECL	levels-8(SP)
	JNZ	level

done:
	MOVQ	out+32(FP), R11
	LEAF(AX, 0)
	LEAF(BX, 8)
	LEAF(CX, 16)
	LEAF(DX, 24)
	LEAF(SI, 32)
	LEAF(DI, 40)
	LEAF(R8, 48)
	LEAF(R9, 56)
	RET
