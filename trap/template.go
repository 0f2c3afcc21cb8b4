package trap

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// MaxSpecLen bounds a UniRec specifier read from the wire, so that a corrupt
// hello cannot make a reader allocate without bound.
const MaxSpecLen = 1 << 16

// ErrBadSpec is wrapped by every error that ParseTemplate returns.
var ErrBadSpec = errors.New("bad UniRec specifier")

// A Field locates one field in the records of one template. Fields are owned
// by their Template and never change; accessors take a *Field of the record's
// own template.
type Field struct {
	Name string
	Type Type
	// Index is the field's position in the template's order.
	Index int
	// off is the byte offset of the value in the fixed part of a record, or
	// for a variable-size field the offset of its offset/length header.
	off int
}

// A Template is the layout of UniRec records: its fields in libunirec's
// order and their places in a record. It is immutable and safe to share.
type Template struct {
	fields     []Field
	byName     map[string]*Field
	variable   []*Field // the variable-size fields, in order
	varElem    []int    // their element sizes, for Decode
	staticSize int
	spec       string
}

// ParseTemplate parses a UniRec specifier: "type NAME" pairs separated by
// commas, in any order. Repeated fields are merged as libunirec does; the
// same name with two types is an error. The empty specifier gives a template
// without fields.
func ParseTemplate(spec string) (*Template, error) {
	var fields []Field
	seen := make(map[string]Type)
	if strings.TrimSpace(spec) != "" {
		for i, item := range strings.Split(spec, ",") {
			typeName, name, ok := strings.Cut(strings.TrimSpace(item), " ")
			name = strings.TrimSpace(name)
			if !ok || name == "" {
				return nil, fmt.Errorf("%w: item %d %q is not \"type NAME\"", ErrBadSpec, i+1, item)
			}
			if !validName(name) {
				return nil, fmt.Errorf("%w: item %d: field name %q has characters other than letters, digits and _", ErrBadSpec, i+1, name)
			}
			typ, err := ParseType(typeName)
			if err != nil {
				return nil, fmt.Errorf("%w: item %d (field %s): %w", ErrBadSpec, i+1, name, err)
			}
			if prev, dup := seen[name]; dup {
				if prev != typ {
					return nil, fmt.Errorf("%w: field %s is both %s and %s", ErrBadSpec, name, prev, typ)
				}
				continue
			}
			seen[name] = typ
			fields = append(fields, Field{Name: name, Type: typ})
		}
	}
	return newTemplate(fields), nil
}

func validName(s string) bool {
	for _, c := range []byte(s) {
		if !(c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// newTemplate orders the fields as libunirec's compare_fields does: by
// size descending (variable-size fields have negative sizes, so they follow
// the fixed ones, grouped by element size), then by name in byte order.
func newTemplate(fields []Field) *Template {
	slices.SortFunc(fields, func(a, b Field) int {
		if c := cmp.Compare(b.Type.sortSize(), a.Type.sortSize()); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	t := &Template{fields: fields, byName: make(map[string]*Field, len(fields))}
	var spec strings.Builder
	for i := range t.fields {
		f := &t.fields[i]
		f.Index = i
		f.off = t.staticSize
		if f.Type.Variable() {
			t.staticSize += 4
			t.variable = append(t.variable, f)
			t.varElem = append(t.varElem, f.Type.ElemSize())
		} else {
			t.staticSize += f.Type.Size()
		}
		t.byName[f.Name] = f
		if i > 0 {
			spec.WriteByte(',')
		}
		spec.WriteString(f.Type.String())
		spec.WriteByte(' ')
		spec.WriteString(f.Name)
	}
	t.spec = spec.String()
	return t
}

// Spec returns the specifier of the template with its fields in record
// order, as libunirec writes it into a hello.
func (t *Template) Spec() string { return t.spec }

// Fields returns the fields in record order. The slice must not be modified.
func (t *Template) Fields() []Field { return t.fields }

// Len is the number of fields.
func (t *Template) Len() int { return len(t.fields) }

// StaticSize is the size of the fixed part of a record: the fixed-size values
// and a 4-byte offset/length header for every variable-size field.
func (t *Template) StaticSize() int { return t.staticSize }

// Field returns the field with the given name, or nil.
func (t *Template) Field(name string) *Field { return t.byName[name] }

// Lookup returns the named field and checks its type. It is how a consumer
// resolves the fields it needs once per template.
func (t *Template) Lookup(name string, types ...Type) (*Field, error) {
	f := t.byName[name]
	if f == nil {
		return nil, fmt.Errorf("template has no field %s", name)
	}
	if len(types) > 0 && !slices.Contains(types, f.Type) {
		return nil, fmt.Errorf("field %s is %s, want %s", name, f.Type, typeList(types))
	}
	return f, nil
}

func typeList(types []Type) string {
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = t.String()
	}
	return strings.Join(names, " or ")
}

// Extend returns a template with the fields of t and of spec. It is how a
// module adds its own fields to the ones it received.
func (t *Template) Extend(spec string) (*Template, error) {
	return ParseTemplate(joinSpecs(t.spec, spec))
}

func joinSpecs(a, b string) string {
	switch {
	case a == "":
		return b
	case strings.TrimSpace(b) == "":
		return a
	}
	return a + "," + b
}

// Contains reports whether every field of sub is in t with the same type
// (libtrap's test of a required format against a received one).
func (t *Template) Contains(sub *Template) bool {
	for i := range sub.fields {
		f := t.byName[sub.fields[i].Name]
		if f == nil || f.Type != sub.fields[i].Type {
			return false
		}
	}
	return true
}

// Equal reports whether both templates have the same fields.
func (t *Template) Equal(u *Template) bool { return t.spec == u.spec }
