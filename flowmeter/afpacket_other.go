//go:build !linux

package flowmeter

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// AFPacketConfig sets up a live capture (Linux only).
type AFPacketConfig struct {
	Interface                      string
	Fanout                         int
	FanoutID                       uint16
	BlockSize, NumBlocks           int
	FilterProgram, SteeringProgram int
	NotPromiscuous                 bool
	CPUs                           []int
	Meter                          Config
	Log                            *slog.Logger
}

// A Capture reads an interface through AF_PACKET sockets (Linux only).
type Capture struct{}

var errNoAFPacket = errors.New("AF_PACKET capture needs Linux")

// OpenAFPacket fails: AF_PACKET is Linux's.
func OpenAFPacket(AFPacketConfig) (*Capture, error) { return nil, errNoAFPacket }

func (c *Capture) Meters() []*Meter                        { return nil }
func (c *Capture) SocketStats() (received, dropped uint64) { return 0, 0 }
func (c *Capture) EachSocket() []SocketCounts              { return nil }
func (c *Capture) Run(context.Context) error               { return errNoAFPacket }
func (c *Capture) Close()                                  {}
func (c *Capture) ThreadCPU() time.Duration                { return 0 }
func (c *Capture) MergingOffloads() ([]string, error)      { return nil, errNoAFPacket }

// InterfaceLink fails: AF_PACKET is Linux's.
func InterfaceLink(string) (LinkType, error) { return 0, errNoAFPacket }
