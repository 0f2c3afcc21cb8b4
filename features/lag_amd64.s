//go:build amd64 && !purego

#include "textflag.h"

// LAG sets products[L] to the sum of xp[k]*xp[k+L] over k < 32: Y0-Y7 hold
// xp[0:32], the loads xp[L:L+32]; two accumulators halve the chain of
// multiply-adds.
#define LAG(L) \
	VMULPD	(8*L)(SI), Y0, Y8; \
	VMULPD	(8*L+32)(SI), Y1, Y9; \
	VFMADD231PD	(8*L+64)(SI), Y2, Y8; \
	VFMADD231PD	(8*L+96)(SI), Y3, Y9; \
	VFMADD231PD	(8*L+128)(SI), Y4, Y8; \
	VFMADD231PD	(8*L+160)(SI), Y5, Y9; \
	VFMADD231PD	(8*L+192)(SI), Y6, Y8; \
	VFMADD231PD	(8*L+224)(SI), Y7, Y9; \
	VADDPD	Y9, Y8, Y8; \
	VEXTRACTF128	$1, Y8, X9; \
	VADDPD	X9, X8, X8; \
	VHADDPD	X8, X8, X8; \
	VCVTTSD2SIQ	X8, AX; \
	MOVQ	AX, (8*L)(DI)

// func lagProductsAVX2(xp *[44]float64, products *[10]int64)
TEXT ·lagProductsAVX2(SB), NOSPLIT, $0-16
	MOVQ	xp+0(FP), SI
	MOVQ	products+8(FP), DI
	VMOVUPD	0(SI), Y0
	VMOVUPD	32(SI), Y1
	VMOVUPD	64(SI), Y2
	VMOVUPD	96(SI), Y3
	VMOVUPD	128(SI), Y4
	VMOVUPD	160(SI), Y5
	VMOVUPD	192(SI), Y6
	VMOVUPD	224(SI), Y7
	LAG(1)
	LAG(2)
	LAG(3)
	LAG(4)
	LAG(5)
	LAG(6)
	LAG(7)
	LAG(8)
	LAG(9)
	VZEROUPPER
	RET
