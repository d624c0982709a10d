package tui

import (
	"io"
)

// previewExec shows a preview while Bubble Tea has let go of the terminal
// (tea.Exec): it draws on the alternate screen, so nothing stays in the
// scrollback, waits for enter and removes the image again. It writes only
// the escapes it builds itself and the image our encoder made.
type previewExec struct {
	title string // sanitised
	image []byte
	kitty bool

	in       io.Reader
	out, err io.Writer
}

func (p *previewExec) SetStdin(r io.Reader)  { p.in = r }
func (p *previewExec) SetStdout(w io.Writer) { p.out = w }
func (p *previewExec) SetStderr(w io.Writer) { p.err = w }

// Run draws the preview and waits for a line on the terminal (Bubble Tea
// has restored its cooked mode, so a key arrives with enter).
func (p *previewExec) Run() error {
	if p.out == nil {
		return nil
	}
	var b []byte
	b = append(b, "\x1b[?1049h\x1b[2J\x1b[H"...) // alternate screen, cleared
	b = append(b, p.title...)
	b = append(b, "\r\n"...)
	b = append(b, p.image...)
	b = append(b, "\r\n[enter: back to veil]"...)
	if _, err := p.out.Write(b); err != nil {
		return err
	}
	if p.in != nil {
		one := make([]byte, 1)
		for {
			n, err := p.in.Read(one)
			if err != nil || (n == 1 && (one[0] == '\n' || one[0] == '\r')) {
				break
			}
		}
	}
	b = b[:0]
	if p.kitty {
		b = append(b, kittyDelete()...)
	}
	b = append(b, "\x1b[2J\x1b[?1049l"...)
	_, err := p.out.Write(b)
	return err
}
