//go:build amd64 && !purego

#include "textflag.h"

// func encryptBlocksAESNI(keys *[176]byte, blocks *byte, n int)
//
// Encrypts n 16-byte blocks in place with AES-128's 11 round keys, four
// blocks at a time where it can: their rounds are independent, so the
// processor overlaps them.
TEXT ·encryptBlocksAESNI(SB), NOSPLIT, $0-24
	MOVQ	keys+0(FP), AX
	MOVQ	blocks+8(FP), DI
	MOVQ	n+16(FP), CX
	MOVOU	0(AX), X1
	MOVOU	16(AX), X2
	MOVOU	32(AX), X3
	MOVOU	48(AX), X4
	MOVOU	64(AX), X5
	MOVOU	80(AX), X6
	MOVOU	96(AX), X7
	MOVOU	112(AX), X8
	MOVOU	128(AX), X9
	MOVOU	144(AX), X10
	MOVOU	160(AX), X11

four:
	CMPQ	CX, $4
	JLT	one
	MOVOU	0(DI), X0
	MOVOU	16(DI), X12
	MOVOU	32(DI), X13
	MOVOU	48(DI), X14
	PXOR	X1, X0
	PXOR	X1, X12
	PXOR	X1, X13
	PXOR	X1, X14
#define ROUND4(K) AESENC K, X0; AESENC K, X12; AESENC K, X13; AESENC K, X14
	ROUND4(X2)
	ROUND4(X3)
	ROUND4(X4)
	ROUND4(X5)
	ROUND4(X6)
	ROUND4(X7)
	ROUND4(X8)
	ROUND4(X9)
	ROUND4(X10)
#undef ROUND4
	AESENCLAST	X11, X0
	AESENCLAST	X11, X12
	AESENCLAST	X11, X13
	AESENCLAST	X11, X14
	MOVOU	X0, 0(DI)
	MOVOU	X12, 16(DI)
	MOVOU	X13, 32(DI)
	MOVOU	X14, 48(DI)
	ADDQ	$64, DI
	SUBQ	$4, CX
	JMP	four

one:
	TESTQ	CX, CX
	JLE	done
	MOVOU	0(DI), X0
	PXOR	X1, X0
	AESENC	X2, X0
	AESENC	X3, X0
	AESENC	X4, X0
	AESENC	X5, X0
	AESENC	X6, X0
	AESENC	X7, X0
	AESENC	X8, X0
	AESENC	X9, X0
	AESENC	X10, X0
	AESENCLAST	X11, X0
	MOVOU	X0, 0(DI)
	ADDQ	$16, DI
	DECQ	CX
	JMP	one

done:
	RET
