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

// MERGE8_UP merges R0 and R1, whose eight values are bitonic, ascending
// (k = 8); MERGE8_DOWN descending.
#define MERGE8_UP(R0, R1) \
	UP(R0, R1); \
	INSIDE_UP(R0); \
	INSIDE_UP(R1)

#define MERGE8_DOWN(R0, R1) \
	DOWN(R0, R1); \
	INSIDE_DOWN(R0); \
	INSIDE_DOWN(R1)

// MERGE16_UP and MERGE16_DOWN do the same for sixteen values (k = 16).
#define MERGE16_UP(R0, R1, R2, R3) \
	UP(R0, R2); \
	UP(R1, R3); \
	MERGE8_UP(R0, R1); \
	MERGE8_UP(R2, R3)

#define MERGE16_DOWN(R0, R1, R2, R3) \
	DOWN(R0, R2); \
	DOWN(R1, R3); \
	MERGE8_DOWN(R0, R1); \
	MERGE8_DOWN(R2, R3)

// EIGHTS sorts R0 and R1's eight values ascending and R2 and R3's
// descending.
#define EIGHTS(R0, R1, R2, R3) \
	FOURS(R0, R1); \
	FOURS(R2, R3); \
	MERGE8_UP(R0, R1); \
	MERGE8_DOWN(R2, R3)

// LOAD4 and STORE4 move four registers from and to a, OFF bytes in (AX).
#define LOAD4(OFF, R0, R1, R2, R3) \
	VMOVUPD	(OFF)(AX), R0; \
	VMOVUPD	(OFF+32)(AX), R1; \
	VMOVUPD	(OFF+64)(AX), R2; \
	VMOVUPD	(OFF+96)(AX), R3

#define STORE4(OFF, R0, R1, R2, R3) \
	VMOVUPD	R0, (OFF)(AX); \
	VMOVUPD	R1, (OFF+32)(AX); \
	VMOVUPD	R2, (OFF+64)(AX); \
	VMOVUPD	R3, (OFF+96)(AX)

// func sort8(a *[32]float64)
TEXT ·sort8(SB), NOSPLIT, $0-8
	MOVQ	a+0(FP), AX
	VMOVUPD	0(AX), Y0
	VMOVUPD	32(AX), Y1
	FOURS(Y0, Y1)
	MERGE8_UP(Y0, Y1)
	VMOVUPD	Y0, 0(AX)
	VMOVUPD	Y1, 32(AX)
	VZEROUPPER
	RET

// func sort16(a *[32]float64)
TEXT ·sort16(SB), NOSPLIT, $0-8
	MOVQ	a+0(FP), AX
	LOAD4(0, Y0, Y1, Y2, Y3)
	EIGHTS(Y0, Y1, Y2, Y3)
	MERGE16_UP(Y0, Y1, Y2, Y3)
	STORE4(0, Y0, Y1, Y2, Y3)
	VZEROUPPER
	RET

// func sort32(a *[32]float64)
TEXT ·sort32(SB), NOSPLIT, $0-8
	MOVQ	a+0(FP), AX
	LOAD4(0, Y0, Y1, Y2, Y3)
	LOAD4(128, Y4, Y5, Y6, Y7)
	EIGHTS(Y0, Y1, Y2, Y3)
	EIGHTS(Y4, Y5, Y6, Y7)
	MERGE16_UP(Y0, Y1, Y2, Y3)
	MERGE16_DOWN(Y4, Y5, Y6, Y7)
	// k = 32: the halves compared, then each merged.
	UP(Y0, Y4)
	UP(Y1, Y5)
	UP(Y2, Y6)
	UP(Y3, Y7)
	MERGE16_UP(Y0, Y1, Y2, Y3)
	MERGE16_UP(Y4, Y5, Y6, Y7)
	STORE4(0, Y0, Y1, Y2, Y3)
	STORE4(128, Y4, Y5, Y6, Y7)
	VZEROUPPER
	RET
