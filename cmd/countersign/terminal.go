package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// rawTerminal puts stdin in raw mode when stdin and stdout are both
// terminals, so that the demo can edit lines and keep a history; restore
// puts it back. It returns a nil rw otherwise (pipes, files), and the demo
// reads lines as they come.
func rawTerminal() (rw io.ReadWriter, restore func(), err error) {
	in, out := int(os.Stdin.Fd()), int(os.Stdout.Fd())
	if !term.IsTerminal(in) || !term.IsTerminal(out) {
		return nil, nil, nil
	}
	state, err := term.MakeRaw(in)
	if err != nil {
		return nil, nil, fmt.Errorf("setting up the terminal: %w", err)
	}
	restore = func() { term.Restore(in, state) } //nolint:errcheck // nothing better to do at exit
	return struct {
		io.Reader
		io.Writer
	}{os.Stdin, os.Stdout}, restore, nil
}
