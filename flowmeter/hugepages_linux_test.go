//go:build linux

package flowmeter

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestCacheOnHugePages: where the kernel gives huge pages on request, a
// large cache gets them, and Close gives its memory back (twice is once).
func TestCacheOnHugePages(t *testing.T) {
	thp, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || !strings.Contains(string(thp), "[madvise]") && !strings.Contains(string(thp), "[always]") {
		t.Skipf("no transparent huge pages on request here (%q, %v)", thp, err)
	}
	m, err := NewMeter(Config{Cache: CacheConfig{Size: 1 << 17}}, LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	if start := &m.cache.slots[0]; uintptr(unsafe.Pointer(start))%hugePage != 0 {
		t.Errorf("the cache starts at %p, not on a huge page", start)
	}
	flows := m.cache.flows
	perPage := hugePage / int(unsafe.Sizeof(Flow{}))
	for i := 0; i < len(flows); i += perPage {
		flows[i].packets[0] = 1 // the first touch brings the page in
	}
	if kb := anonHugeKB(t, uintptr(unsafe.Pointer(&flows[0]))); kb < hugePage/1024 {
		t.Errorf("the cache's mapping has %d kB on huge pages", kb)
	}
	m.Close()
	m.Close()
	if m.cache.flows != nil {
		t.Error("the closed cache still has its flows")
	}
}

// anonHugeKB is the AnonHugePages of the mapping of this process that holds
// addr, from /proc/self/smaps.
func anonHugeKB(t *testing.T, addr uintptr) int {
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok && !strings.HasSuffix(fields[0], ":") {
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uint64(addr) >= start && uint64(addr) < end
			continue
		}
		if in && fields[0] == "AnonHugePages:" {
			kb, _ := strconv.Atoi(fields[1])
			return kb
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return 0
}
