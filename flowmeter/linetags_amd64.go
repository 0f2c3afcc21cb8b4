//go:build amd64 && !purego

package flowmeter

import (
	"math/bits"

	"golang.org/x/sys/cpu"
)

// lineTagsAVX512 is whether the processor runs lineTags.
var lineTagsAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW

// lineTags reports which slots of a line of 16 hold tag t and which are
// free: bit 4i for slot i.
//
//go:noescape
func lineTags(line *[16]slot, t uint16) (match, free uint64)

// seekTag is scanTag, in a few instructions and without a branch for a
// line of 16 where the processor has AVX-512: working ahead, a packet's
// flow sits anywhere in its line, whose fetch may not have come yet; a
// scan's end is a branch the processor cannot predict nor settle before
// the line comes, and goes the wrong way meanwhile.
func (k *cache) seekTag(start int, t uint16) (s int, full bool) {
	if !lineTagsAVX512 || k.cfg.LineSize != 16 {
		return k.scanTag(start, t)
	}
	match, free := lineTags((*[16]slot)(k.slots[start:start+16]), t)
	if match != 0 {
		return start + bits.TrailingZeros64(match)/4, false
	}
	return -1, free == 0
}
