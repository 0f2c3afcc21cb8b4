package trap

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseIfcSpecs(t *testing.T) {
	specs, err := ParseIfcSpecs("t:localhost:7600,u:my_socket:timeout=NO_WAIT:buffer=off:autoflush=off,f:~/data.trapcap:w:time=30:size=100,b:,t:[::1]:7601,u:out:5")
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 6 {
		t.Fatalf("%d interfaces, want 6", len(specs))
	}
	check := func(i int, kind byte, args ...string) {
		t.Helper()
		if specs[i].Kind != kind || !slices.Equal(specs[i].Args, args) {
			t.Errorf("interface %d: %c %q, want %c %q", i, specs[i].Kind, specs[i].Args, kind, args)
		}
	}
	check(0, 't', "localhost", "7600")
	check(1, 'u', "my_socket")
	check(2, 'f', "~/data.trapcap", "w", "time=30", "size=100")
	check(3, 'b')
	check(4, 't', "::1", "7601")
	check(5, 'u', "out", "5")

	def := specs[0]
	if def.Timeout != Wait || !def.Buffer || def.Autoflush != 2*time.Second || def.MaxClients != 64 || def.BufferCount != 50 || def.BufferSize != 100000 {
		t.Errorf("libtrap's defaults: %+v", def)
	}
	if s := specs[1]; s.Timeout != NoWait || s.Buffer || s.Autoflush != 0 {
		t.Errorf("parameters: %+v", s)
	}
	if specs[1].Text != "u:my_socket:timeout=NO_WAIT:buffer=off:autoflush=off" {
		t.Errorf("Text = %q", specs[1].Text)
	}

	one, err := ParseIfcSpec("u:x:timeout=250000:autoflush=1000:max_clients=2:buffer_count=8:buffer_size=4096")
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(one.Timeout) != 250*time.Millisecond || one.Autoflush != time.Millisecond || one.MaxClients != 2 || one.BufferCount != 8 || one.BufferSize != 4096 {
		t.Errorf("parameters: %+v", one)
	}
	if s, _ := ParseIfcSpec("u:x:timeout=HALF_WAIT"); s.Timeout != HalfWait || s.Timeout.String() != "HALF_WAIT" {
		t.Errorf("HALF_WAIT: %v", s.Timeout)
	}
}

func TestParseIfcSpecErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"":                         "empty",
		"x:foo":                    `unknown interface type "x"`,
		"unix:foo":                 "one letter",
		"u:":                       "missing socket name",
		"f:":                       "missing file name",
		"T:host:1:key:cert:ca":     "TLS interfaces are not supported",
		"u:a:timeout=SOMETIMES":    "want WAIT, NO_WAIT, HALF_WAIT or microseconds",
		"u:a:buffer=maybe":         "want on or off",
		"u:a:buffer_size=200000":   "buffer_size=200000",
		"u:a:colour=blue":          `unknown parameter "colour"`,
		"u:a,,u:b":                 "one letter",
		"t:1:max_clients=0":        "max_clients=0",
		"u:a:autoflush=-1":         "autoflush=-1",
		"u:a:buffer_count=1000000": "buffer_count",
	} {
		_, err := ParseIfcSpecs(spec)
		if !errors.Is(err, ErrBadIfcSpec) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseIfcSpecs(%q) = %v, want an error with %q", spec, err, want)
		}
	}
}

func TestSocketPath(t *testing.T) {
	t.Setenv("TRAP_SOCKET_DIR", "")
	if got := SocketPath("alf_socket"); got != "/tmp/trap-alf_socket.sock" {
		t.Errorf("default: %s", got)
	}
	t.Setenv("TRAP_SOCKET_DIR", "/run/libtrap")
	if got := SocketPath("alf_socket"); got != "/run/libtrap/trap-alf_socket.sock" {
		t.Errorf("TRAP_SOCKET_DIR: %s", got)
	}
}

func TestStrftime(t *testing.T) {
	tm := time.Date(2016, 4, 18, 9, 5, 7, 0, time.UTC)
	if got := strftime("/data/%Y/%m/%d/flows.%H%M%S.%y.%j%%.%q", tm); got != "/data/2016/04/18/flows.090507.16.109%.%q" {
		t.Errorf("strftime: %s", got)
	}
}
