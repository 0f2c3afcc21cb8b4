//go:build !linux

package bpf

import (
	"errors"
	"time"

	"github.com/alfd/alfd/flowmeter"
)

// Programs are alfd's loaded eBPF programs (Linux only).
type Programs struct{}

var errNoBPF = errors.New("eBPF needs Linux")

// Load fails: eBPF is Linux's.
func Load(Config) (*Programs, error) { return nil, errNoBPF }

func (p *Programs) FilterFD() int                    { return 0 }
func (p *Programs) SteeringFD() int                  { return 0 }
func (p *Programs) Aggregator() flowmeter.Aggregator { return nil }
func (p *Programs) Counts() (Counts, error)          { return Counts{}, errNoBPF }
func (p *Programs) VLANHint() (bool, error)          { return false, errNoBPF }
func (p *Programs) Sweep(time.Duration) (int, error) { return 0, errNoBPF }
func (p *Programs) Close() error                     { return nil }
