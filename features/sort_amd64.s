//go:build amd64 && !purego

#include "textflag.h"

// Bitonic sorting networks on AVX2 registers, four float64 values a
// register: element e is lane e%4 of register e/4. A network's steps
// compare e with e^j; the element that should get the smaller value gets
// it when e's bit k is clear (ascending), else the larger, where k is the
// size of the blocks being merged. For j >= 4 both values are in the same
// lane of two registers (one minimum and one maximum); for j < 4 they are
// in one register, whose lanes are swapped into a copy, and a blend picks
// each lane's minimum or maximum. Y8 and Y9 are scratch.
//
// MINPD and MAXPD return their second operand when the values are equal or
// one is NaN: the callers sort values that are never NaN or -0, so no value
// is lost or doubled.

// UP and DOWN order lane by lane the values of registers A and B: A gets
// the smaller (UP) or the larger (DOWN).
#define UP(A, B) \
	VMINPD	B, A, Y8; \
	VMAXPD	B, A, B; \
	VMOVAPD	Y8, A

#define DOWN(A, B) \
	VMAXPD	B, A, Y8; \
	VMINPD	B, A, B; \
	VMOVAPD	Y8, A

// SWAP2 compares the lanes two apart in R (j = 2), SWAP1 the neighbours
// (j = 1). MAXLANES has a bit set for each lane that gets the larger value.
#define SWAP2(R, MAXLANES) \
	VPERMPD	$0x4e, R, Y8; \
	VMINPD	Y8, R, Y9; \
	VMAXPD	Y8, R, Y8; \
	VBLENDPD	$MAXLANES, Y8, Y9, R

#define SWAP1(R, MAXLANES) \
	VPERMILPD	$0x5, R, Y8; \
	VMINPD	Y8, R, Y9; \
	VMAXPD	Y8, R, Y8; \
	VBLENDPD	$MAXLANES, Y8, Y9, R

// The lanes that get the larger value in an ascending register (its four
// elements are in the first half of their block) and a descending one.
#define UP2 0xc
#define DOWN2 0x3
#define UP1 0xa
#define DOWN1 0x5

// INSIDE finishes a merge within register R, ascending or descending.
#define INSIDE_UP(R) SWAP2(R, UP2); SWAP1(R, UP1)
#define INSIDE_DOWN(R) SWAP2(R, DOWN2); SWAP1(R, DOWN1)

// PAIRS sorts the neighbours of R (k = 2): lanes 0 and 1 ascending, lanes 2
// and 3 descending.
#define PAIRS(R) SWAP1(R, 0x6)

// FOURS sorts R0's four values ascending and R1's descending (k = 4).
#define FOURS(R0, R1) \
	PAIRS(R0); \
	PAIRS(R1); \
	INSIDE_UP(R0); \
	INSIDE_DOWN(R1)

// func sort8(a *[32]float64)
TEXT ·sort8(SB), NOSPLIT, $0-8
	MOVQ	a+0(FP), AX
	VMOVUPD	0(AX), Y0
	VMOVUPD	32(AX), Y1
	FOURS(Y0, Y1)
	UP(Y0, Y1)
	INSIDE_UP(Y0)
	INSIDE_UP(Y1)
	VMOVUPD	Y0, 0(AX)
	VMOVUPD	Y1, 32(AX)
	VZEROUPPER
	RET

// func sort16(a *[32]float64)
TEXT ·sort16(SB), NOSPLIT, $0-8
	MOVQ	a+0(FP), AX
	VMOVUPD	0(AX), Y0
	VMOVUPD	32(AX), Y1
	VMOVUPD	64(AX), Y2
	VMOVUPD	96(AX), Y3
	FOURS(Y0, Y1)
	FOURS(Y2, Y3)
	// k = 8: Y0, Y1 ascending, Y2, Y3 descending.
	UP(Y0, Y1)
	DOWN(Y2, Y3)
	INSIDE_UP(Y0)
	INSIDE_UP(Y1)
	INSIDE_DOWN(Y2)
	INSIDE_DOWN(Y3)
	// k = 16: all ascending.
	UP(Y0, Y2)
	UP(Y1, Y3)
	UP(Y0, Y1)
	UP(Y2, Y3)
	INSIDE_UP(Y0)
	INSIDE_UP(Y1)
	INSIDE_UP(Y2)
	INSIDE_UP(Y3)
	VMOVUPD	Y0, 0(AX)
	VMOVUPD	Y1, 32(AX)
	VMOVUPD	Y2, 64(AX)
	VMOVUPD	Y3, 96(AX)
	VZEROUPPER
	RET

// func sort32(a *[32]float64)
TEXT ·sort32(SB), NOSPLIT, $0-8
	MOVQ	a+0(FP), AX
	VMOVUPD	0(AX), Y0
	VMOVUPD	32(AX), Y1
	VMOVUPD	64(AX), Y2
	VMOVUPD	96(AX), Y3
	VMOVUPD	128(AX), Y4
	VMOVUPD	160(AX), Y5
	VMOVUPD	192(AX), Y6
	VMOVUPD	224(AX), Y7
	FOURS(Y0, Y1)
	FOURS(Y2, Y3)
	FOURS(Y4, Y5)
	FOURS(Y6, Y7)
	// k = 8: register pairs alternate.
	UP(Y0, Y1)
	DOWN(Y2, Y3)
	UP(Y4, Y5)
	DOWN(Y6, Y7)
	INSIDE_UP(Y0)
	INSIDE_UP(Y1)
	INSIDE_DOWN(Y2)
	INSIDE_DOWN(Y3)
	INSIDE_UP(Y4)
	INSIDE_UP(Y5)
	INSIDE_DOWN(Y6)
	INSIDE_DOWN(Y7)
	// k = 16: Y0-Y3 ascending, Y4-Y7 descending.
	UP(Y0, Y2)
	UP(Y1, Y3)
	DOWN(Y4, Y6)
	DOWN(Y5, Y7)
	UP(Y0, Y1)
	UP(Y2, Y3)
	DOWN(Y4, Y5)
	DOWN(Y6, Y7)
	INSIDE_UP(Y0)
	INSIDE_UP(Y1)
	INSIDE_UP(Y2)
	INSIDE_UP(Y3)
	INSIDE_DOWN(Y4)
	INSIDE_DOWN(Y5)
	INSIDE_DOWN(Y6)
	INSIDE_DOWN(Y7)
	// k = 32: all ascending.
	UP(Y0, Y4)
	UP(Y1, Y5)
	UP(Y2, Y6)
	UP(Y3, Y7)
	UP(Y0, Y2)
	UP(Y1, Y3)
	UP(Y4, Y6)
	UP(Y5, Y7)
	UP(Y0, Y1)
	UP(Y2, Y3)
	UP(Y4, Y5)
	UP(Y6, Y7)
	INSIDE_UP(Y0)
	INSIDE_UP(Y1)
	INSIDE_UP(Y2)
	INSIDE_UP(Y3)
	INSIDE_UP(Y4)
	INSIDE_UP(Y5)
	INSIDE_UP(Y6)
	INSIDE_UP(Y7)
	VMOVUPD	Y0, 0(AX)
	VMOVUPD	Y1, 32(AX)
	VMOVUPD	Y2, 64(AX)
	VMOVUPD	Y3, 96(AX)
	VMOVUPD	Y4, 128(AX)
	VMOVUPD	Y5, 160(AX)
	VMOVUPD	Y6, 192(AX)
	VMOVUPD	Y7, 224(AX)
	VZEROUPPER
	RET
