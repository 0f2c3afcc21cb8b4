package classify

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/alfd/alfd/trap"
)

// PredictionSpec lists the fields alfd adds to each flow record it sends:
// its verdict (1 DoH, 0 not), the model's probability of DoH, and the
// version of the model that decided.
const PredictionSpec = "uint8 DOH,double DOH_PROBA,uint32 MODEL_VERSION"

// predictionFields is the template PredictionSpec parses to.
var predictionFields = func() *trap.Template {
	t, err := trap.ParseTemplate(PredictionSpec)
	if err != nil {
		panic(err)
	}
	return t
}()

// outputTemplate is the template of what alfd sends for records of
// template in: in's fields and the prediction fields. Records that carry
// them already (from another alfd) keep their template, and get new values.
func outputTemplate(in *trap.Template) (*trap.Template, error) {
	if in.Contains(predictionFields) {
		return in, nil
	}
	for _, f := range predictionFields.Fields() {
		if g := in.Field(f.Name); g != nil {
			return nil, fmt.Errorf("the records carry %s as %s; alfd writes it as %s", f.Name, g.Type, f.Type)
		}
	}
	return in.Extend(PredictionSpec)
}

// An Output takes the classified flows of one batch at a time: UniRec
// records of template t, the input's fields and PredictionSpec's. recs and
// the records stay valid only during the call. Flush is called when the
// input has nothing more for now, so that what was written goes out
// without waiting for more.
type Output interface {
	Write(t *trap.Template, recs [][]byte) error
	Flush() error
}

// TrapOutput sends the records on a TRAP output interface, announcing each
// new template to its readers.
type TrapOutput struct {
	W *trap.Writer
}

func (o TrapOutput) Write(t *trap.Template, recs [][]byte) error {
	// SetFormat does nothing when the format stays.
	if err := o.W.SetFormat(trap.UniRecFormat(t)); err != nil {
		return err
	}
	return o.W.SendBatch(recs)
}

// Flush sends the container being filled, rather than after the
// interface's autoflush timeout.
func (o TrapOutput) Flush() error { return o.W.Flush() }

// TextOutput writes the records as CSV or JSON lines, for people without
// NEMEA: the input's fields, then DOH, DOH_PROBA and MODEL_VERSION.
type TextOutput struct {
	w       *bufio.Writer
	dst     io.Writer // what w writes to
	next    atomic.Pointer[io.Writer]
	printer trap.Printer
	tmpl    *trap.Template
}

// predictionNames are the prediction fields in the order text shows them.
var predictionNames = []string{"DOH", "DOH_PROBA", "MODEL_VERSION"}

// NewTextOutput writes to w, as JSON lines when asJSON, else as CSV with a
// header whenever the input's template changes.
func NewTextOutput(w io.Writer, asJSON bool) *TextOutput {
	return &TextOutput{w: bufio.NewWriterSize(w, 64<<10), dst: w, printer: trap.Printer{JSON: asJSON, Header: true}}
}

// Switch makes the output go to w from its next Write or Flush on, whole
// lines to each: what is buffered then goes to the writer before, which is
// closed if it is an io.Closer, and CSV starts w with a header. It is for
// log rotation (a file moved away, then SIGHUP) and safe from any
// goroutine.
func (o *TextOutput) Switch(w io.Writer) {
	if old := o.next.Swap(&w); old != nil {
		// Switched twice before a flush: the first new writer was never used.
		if c, ok := (*old).(io.Closer); ok {
			c.Close()
		}
	}
}

func (o *TextOutput) Write(t *trap.Template, recs [][]byte) error {
	if o.next.Load() != nil {
		if err := o.Flush(); err != nil {
			return err
		}
	}
	if t != o.tmpl {
		o.tmpl = t
		o.printer.Fields = o.printer.Fields[:0]
		for _, f := range t.Fields() {
			if predictionFields.Field(f.Name) == nil {
				o.printer.Fields = append(o.printer.Fields, f.Name)
			}
		}
		o.printer.Fields = append(o.printer.Fields, predictionNames...)
	}
	for _, b := range recs {
		rec, err := t.Decode(b)
		if err != nil {
			return err
		}
		if err := o.printer.Print(o.w, rec); err != nil {
			return err
		}
	}
	return nil
}

// Flush writes what is buffered, and then switches to the writer Switch
// gave, if any.
func (o *TextOutput) Flush() error {
	err := o.w.Flush()
	if next := o.next.Swap(nil); next != nil {
		if c, ok := o.dst.(io.Closer); ok {
			err = errors.Join(err, c.Close())
		}
		o.dst = *next
		o.w.Reset(o.dst)
		o.printer.Restart()
	}
	return err
}

// Close flushes and closes the writer in use, when it is an io.Closer.
func (o *TextOutput) Close() error {
	err := o.Flush()
	if c, ok := o.dst.(io.Closer); ok {
		err = errors.Join(err, c.Close())
	}
	return err
}
