package trap

import (
	"errors"
	"strings"
	"testing"
)

// alfSpec is the format of ALF's trapcaps, as ipfixprobe sent it.
const alfSpec = "ipaddr DST_IP,ipaddr SRC_IP,uint64 BYTES,uint64 BYTES_REV,uint64 LINK_BIT_FIELD,time TIME_FIRST,time TIME_LAST,uint32 PACKETS,uint32 PACKETS_REV,uint16 DST_PORT,uint16 SRC_PORT,uint8 PROTOCOL,uint8 TCP_FLAGS,uint8 TCP_FLAGS_REV,bytes IDP_CONTENT,bytes IDP_CONTENT_REV,int8* PPI_PKT_DIRECTIONS,uint8* PPI_PKT_FLAGS,bytes TLS_JA3_FINGERPRINT,string TLS_SNI,uint16* PPI_PKT_LENGTHS,uint32* DBI_BRST_BYTES,uint32* DBI_BRST_PACKETS,uint32* D_PHISTS_IPT,uint32* D_PHISTS_SIZES,uint32* SBI_BRST_BYTES,uint32* SBI_BRST_PACKETS,uint32* S_PHISTS_IPT,uint32* S_PHISTS_SIZES,time* DBI_BRST_TIME_START,time* DBI_BRST_TIME_STOP,time* PPI_PKT_TIMES,time* SBI_BRST_TIME_START,time* SBI_BRST_TIME_STOP"

func mustTemplate(tb testing.TB, spec string) *Template {
	tb.Helper()
	t, err := ParseTemplate(spec)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func TestALFTemplateLayout(t *testing.T) {
	// ipfixprobe sends the fields already in libunirec's order, so the
	// canonical specifier is the one it sent.
	tmpl := mustTemplate(t, alfSpec)
	if tmpl.Spec() != alfSpec {
		t.Errorf("Spec() reorders ALF's sorted specifier:\n got %s\nwant %s", tmpl.Spec(), alfSpec)
	}
	if tmpl.StaticSize() != 167 {
		t.Errorf("StaticSize = %d, want 167", tmpl.StaticSize())
	}
	// Offsets from the real record in TRAP.md §4.5.
	for name, off := range map[string]int{
		"DST_IP": 0, "SRC_IP": 16, "BYTES": 32, "BYTES_REV": 40, "LINK_BIT_FIELD": 48,
		"TIME_FIRST": 56, "TIME_LAST": 64, "PACKETS": 72, "PACKETS_REV": 76,
		"DST_PORT": 80, "SRC_PORT": 82, "PROTOCOL": 84, "TCP_FLAGS": 85, "TCP_FLAGS_REV": 86,
		"IDP_CONTENT": 87, "IDP_CONTENT_REV": 91, "PPI_PKT_DIRECTIONS": 95, "PPI_PKT_FLAGS": 99,
		"TLS_JA3_FINGERPRINT": 103, "TLS_SNI": 107, "PPI_PKT_LENGTHS": 111,
		"DBI_BRST_BYTES": 115, "S_PHISTS_SIZES": 143, "DBI_BRST_TIME_START": 147,
		"PPI_PKT_TIMES": 155, "SBI_BRST_TIME_STOP": 163,
	} {
		f := tmpl.Field(name)
		if f == nil {
			t.Errorf("no field %s", name)
			continue
		}
		if f.off != off {
			t.Errorf("%s at %d, want %d", name, f.off, off)
		}
	}
}

func TestTemplateSortsLikeLibunirec(t *testing.T) {
	// The producer's spec of u_idle.bin, unsorted, and the layout TRAP.md
	// §4.6 decoded from its bytes.
	tmpl := mustTemplate(t, "ipaddr SRC_IP,uint16 SRC_PORT,time TIME_FIRST,string TLS_SNI,uint16* PPI_PKT_LENGTHS")
	want := "ipaddr SRC_IP,time TIME_FIRST,uint16 SRC_PORT,string TLS_SNI,uint16* PPI_PKT_LENGTHS"
	if tmpl.Spec() != want {
		t.Errorf("Spec() = %s, want %s", tmpl.Spec(), want)
	}
	if tmpl.StaticSize() != 34 {
		t.Errorf("StaticSize = %d, want 34", tmpl.StaticSize())
	}
	for name, off := range map[string]int{"SRC_IP": 0, "TIME_FIRST": 16, "SRC_PORT": 24, "TLS_SNI": 26, "PPI_PKT_LENGTHS": 30} {
		if got := tmpl.Field(name).off; got != off {
			t.Errorf("%s at %d, want %d", name, got, off)
		}
	}

	// Names compare bytewise: '_' (0x5F) sorts after the capitals, so
	// DBI_* comes before D_*; sizes go 16 ... 1, then -1, -2, -4, -6, -8, -16.
	mixed := mustTemplate(t, "ipaddr* IPS,uint8 B,char A,macaddr M,uint32* D_X,uint32* DBI_X,bytes Z,string Y,time* T,double F,macaddr* MS,uint16* S")
	wantOrder := "double F,macaddr M,char A,uint8 B,string Y,bytes Z,uint16* S,uint32* DBI_X,uint32* D_X,macaddr* MS,time* T,ipaddr* IPS"
	if mixed.Spec() != wantOrder {
		t.Errorf("order:\n got %s\nwant %s", mixed.Spec(), wantOrder)
	}
}

func TestParseTemplateEveryType(t *testing.T) {
	var parts []string
	for typ := Type(0); typ < numTypes; typ++ {
		parts = append(parts, typ.String()+" F_"+strings.TrimSuffix(typ.String(), "*")+map[bool]string{true: "_A"}[strings.HasSuffix(typ.String(), "*")])
	}
	tmpl := mustTemplate(t, strings.Join(parts, ", "))
	if tmpl.Len() != int(numTypes) {
		t.Fatalf("%d fields, want %d", tmpl.Len(), numTypes)
	}
	fixed := 0
	for typ := Type(0); typ < numTypes; typ++ {
		if typ.Variable() {
			fixed += 4
		} else {
			fixed += typ.Size()
		}
	}
	if tmpl.StaticSize() != fixed {
		t.Errorf("StaticSize = %d, want %d", tmpl.StaticSize(), fixed)
	}
	// The canonical specifier parses to the same template.
	again := mustTemplate(t, tmpl.Spec())
	if !again.Equal(tmpl) {
		t.Errorf("re-parsed spec differs: %s", again.Spec())
	}
}

func TestParseTemplateErrors(t *testing.T) {
	for _, spec := range []string{
		"uint128 X",
		"uint8",
		"uint8 X,",
		",uint8 X",
		"uint8 X,uint16 X",
		"uint8 BAD-NAME",
		"uint8 A B",
	} {
		if _, err := ParseTemplate(spec); !errors.Is(err, ErrBadSpec) {
			t.Errorf("ParseTemplate(%q) = %v, want ErrBadSpec", spec, err)
		}
	}
	if _, err := ParseTemplate("uint128 X"); err == nil || !strings.Contains(err.Error(), `unknown UniRec type "uint128"`) {
		t.Errorf("unknown type error does not name the type: %v", err)
	}
}

func TestParseTemplateMergesRepeats(t *testing.T) {
	tmpl := mustTemplate(t, " uint16 A , uint8 B,uint16 A")
	if tmpl.Spec() != "uint16 A,uint8 B" {
		t.Errorf("Spec() = %q", tmpl.Spec())
	}
	empty := mustTemplate(t, "")
	if empty.Len() != 0 || empty.StaticSize() != 0 {
		t.Errorf("empty spec gave %d fields", empty.Len())
	}
}

func TestTemplateExtendContainsLookup(t *testing.T) {
	in := mustTemplate(t, alfSpec)
	out, err := in.Extend("uint8 DOH,double DOH_PROBA,uint32 MODEL_VERSION")
	if err != nil {
		t.Fatal(err)
	}
	if !out.Contains(in) || in.Contains(out) {
		t.Error("the extended template must contain the input's and not the other way round")
	}
	if out.Len() != in.Len()+3 {
		t.Errorf("extended template has %d fields, want %d", out.Len(), in.Len()+3)
	}
	if _, err := out.Lookup("DOH_PROBA", TypeDouble); err != nil {
		t.Error(err)
	}
	if _, err := out.Lookup("PACKETS", TypeUint64); err == nil || !strings.Contains(err.Error(), "PACKETS is uint32, want uint64") {
		t.Errorf("Lookup with the wrong type: %v", err)
	}
	if _, err := out.Lookup("NOPE"); err == nil {
		t.Error("Lookup of a missing field succeeded")
	}
	if _, err := in.Extend("uint32 PACKETS"); err != nil {
		t.Errorf("extending with a field already there: %v", err)
	}
	if _, err := in.Extend("uint64 PACKETS"); err == nil {
		t.Error("extending with a field of another type succeeded")
	}
}
