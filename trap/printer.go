package trap

import (
	"bytes"
	"fmt"
	"io"
)

// A Printer writes records as text, one line each, as NEMEA's logger shows
// them: CSV, with a header line whenever the template changes, or JSON
// lines. Its zero value prints CSV without headers.
type Printer struct {
	JSON   bool
	Header bool // CSV: a header line first and at every new template
	// Fields names the fields to print, in order; nil prints them all in
	// the record's order.
	Fields []string

	tmpl   *Template
	fields []*Field
	line   []byte
}

// Restart makes the next record begin a new output: a CSV header first,
// as on a file started anew.
func (p *Printer) Restart() { p.tmpl = nil }

// Print writes rec to w. A record without one of the chosen fields is an
// error naming the field.
func (p *Printer) Print(w io.Writer, rec Record) error {
	if rec.Template() != p.tmpl {
		if err := p.setTemplate(rec.Template()); err != nil {
			return err
		}
		if p.Header && !p.JSON {
			p.line = p.line[:0]
			for i, f := range p.fields {
				if i > 0 {
					p.line = append(p.line, ',')
				}
				p.line = append(p.line, f.Name...)
			}
			p.line = append(p.line, '\n')
			if _, err := w.Write(p.line); err != nil {
				return err
			}
		}
	}
	p.line = p.line[:0]
	if p.JSON {
		p.line = append(p.line, '{')
	}
	for i, f := range p.fields {
		if i > 0 {
			p.line = append(p.line, ',')
		}
		if p.JSON {
			p.line = append(p.line, '"')
			p.line = append(p.line, f.Name...)
			p.line = append(p.line, '"', ':')
			p.line = rec.AppendValueJSON(p.line, f)
		} else {
			start := len(p.line)
			p.line = rec.AppendValue(p.line, f)
			p.line = csvQuote(p.line, start)
		}
	}
	if p.JSON {
		p.line = append(p.line, '}')
	}
	p.line = append(p.line, '\n')
	_, err := w.Write(p.line)
	return err
}

func (p *Printer) setTemplate(t *Template) error {
	p.tmpl = t
	p.fields = p.fields[:0]
	if p.Fields == nil {
		for i := range t.Fields() {
			p.fields = append(p.fields, &t.Fields()[i])
		}
		return nil
	}
	for _, name := range p.Fields {
		f := t.Field(name)
		if f == nil {
			return fmt.Errorf("the records have no field %s (they have: %s)", name, t.Spec())
		}
		p.fields = append(p.fields, f)
	}
	return nil
}

// csvQuote quotes the value in line[start:] if CSV needs it.
func csvQuote(line []byte, start int) []byte {
	v := line[start:]
	if !bytes.ContainsAny(v, ",\"\r\n") {
		return line
	}
	quoted := append([]byte{'"'}, bytes.ReplaceAll(v, []byte{'"'}, []byte{'"', '"'})...)
	return append(append(line[:start], quoted...), '"')
}
