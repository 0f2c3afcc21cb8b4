package main

import (
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int // nil: an error
	}{
		{"3", []int{3}},
		{"2-5,8", []int{2, 3, 4, 5, 8}},
		{"8,0-1", []int{8, 0, 1}},
		{"0-0", []int{0}},
		{"", nil},
		{"5-2", nil},
		{"1,1", nil},
		{"0-3,2", nil},
		{"-1", nil},
		{"a", nil},
		{"1-", nil},
		{"1,,2", nil},
		{"1023", []int{1023}},
		{"0-100000000", nil},
	} {
		got, err := parseCPUList(tc.in)
		if tc.want == nil && err == nil || tc.want != nil && (err != nil || !slices.Equal(got, tc.want)) {
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// TestLearnerKeepsOffMeterCPUs: with the meters pinned by --cpus, the
// learner may run on every other CPU of the process, and on none of
// theirs.
func TestLearnerKeepsOffMeterCPUs(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.NumCPU() < 2 {
		t.Skip("needs Linux and two CPUs")
	}
	all := otherCPUs(nil)
	if len(all) != runtime.NumCPU() {
		t.Fatalf("the process's CPUs: %v, NumCPU %d", all, runtime.NumCPU())
	}
	c := daemonConfig{queryNMax: 1, maxDBSize: 10, strategy: "uncertainty_ranked"}
	c.packets.afpacket, c.packets.cpus = "eth0", strconv.Itoa(all[0])
	lc, err := c.learnerConfig(0, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lc.CPUs, all[1:]) {
		t.Errorf("meters on CPU %d: the learner may run on %v; want %v", all[0], lc.CPUs, all[1:])
	}
	c.packets.afpacket = ""
	if _, err := c.learnerConfig(0, nil, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Error("--cpus without --afpacket: no error")
	}
}
