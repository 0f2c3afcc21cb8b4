package bpf

// The programs are C in c/, compiled with clang by bpf2go into the
// committed alfd_bpfel.go and alfd_bpfel.o; make generate rebuilds them
// (it needs clang, llvm and libbpf-dev).
//go:generate go tool bpf2go -tags linux -go-package bpf -target bpfel -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" alfd c/alfd.c
