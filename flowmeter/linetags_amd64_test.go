//go:build amd64 && !purego

package flowmeter

import (
	"math/rand/v2"
	"testing"
)

// TestSeekTag holds lineTags to its masks, and seekTag to scanTag, on lines
// of 16 whose slots hold the sought tag, free ones, other tags, and the
// sought tag's bits in their other fields (the second, the record), which
// must not count.
func TestSeekTag(t *testing.T) {
	if !lineTagsAVX512 {
		t.Skip("no AVX-512 here: seekTag is scanTag")
	}
	m, err := NewMeter(Config{Cache: CacheConfig{Size: 1 << 10}}, LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	k := m.cache
	rng := rand.New(rand.NewPCG(5, 6))
	const sought = 0xbeef
	tags := []uint16{0, 1, sought, sought ^ 1, sought >> 1}
	matched, missed, full := 0, 0, 0
	for range 20000 {
		start := rng.IntN(k.cfg.Size/16) * 16
		// Mostly one tag in few places, so that first matches, none, and
		// full lines all come up.
		common := tags[rng.IntN(len(tags))]
		for i := start; i < start+16; i++ {
			tg := common
			if rng.IntN(4) == 0 {
				tg = tags[rng.IntN(len(tags))]
			}
			k.slots[i] = slot{tag: tg, lastSec: sought, flow: sought<<16 | sought}
			if rng.IntN(2) == 0 {
				k.slots[i].lastSec, k.slots[i].flow = uint16(rng.Uint32()), rng.Uint32()
			}
		}
		var wantMatch, wantFree uint64
		for i, sl := range k.slots[start : start+16] {
			if sl.tag == sought {
				wantMatch |= 1 << (4 * i)
			}
			if sl.tag == 0 {
				wantFree |= 1 << (4 * i)
			}
		}
		if match, free := lineTags((*[16]slot)(k.slots[start:start+16]), sought); match != wantMatch || free != wantFree {
			t.Fatalf("line %v: lineTags = %#x, %#x; want %#x, %#x", k.slots[start:start+16], match, free, wantMatch, wantFree)
		}
		want, wantFull := k.scanTag(start, sought)
		got, gotFull := k.seekTag(start, sought)
		if got != want || (want < 0 && gotFull != wantFull) {
			t.Fatalf("line %v: seekTag = %d, full %v; scanTag = %d, full %v", k.slots[start:start+16], got, gotFull, want, wantFull)
		}
		switch {
		case want >= 0:
			matched++
		case wantFull:
			full++
		default:
			missed++
		}
	}
	if matched < 1000 || missed < 1000 || full < 1000 {
		t.Fatalf("lines tried: %d matched, %d not, %d full without a match: want all kinds", matched, missed, full)
	}
}
