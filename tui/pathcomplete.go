package tui

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// maxDirEntries bounds the entries read from one directory while
// completing a path: a huge directory costs no more than this.
const maxDirEntries = 200

// completePath completes a typed path: "~" and "~/…" under home,
// absolute paths, and the rest relative to the working directory. It
// returns the text to put back (the longest common prefix of the
// candidates; a directory ends in "/") and the candidates' names when more
// than one fits. Hidden entries are offered only when the typed name
// starts with ".".
func completePath(typed, home string) (string, []string) {
	if typed == "~" {
		return "~/", nil
	}
	dir, base := "", typed
	if i := strings.LastIndexByte(typed, '/'); i >= 0 {
		dir, base = typed[:i+1], typed[i+1:]
	}
	names := readNames(expandHome(dir, home), base)
	if len(names) == 0 {
		return typed, nil
	}
	if len(names) == 1 {
		return dir + names[0], nil
	}
	return dir + commonPrefix(names), names
}

// expandHome turns the directory part of a typed path into one to read:
// "" is the working directory, a leading "~/" is home.
func expandHome(dir, home string) string {
	switch {
	case dir == "":
		return "."
	case strings.HasPrefix(dir, "~/") && home != "":
		return filepath.Join(home, dir[2:])
	}
	return dir
}

// readNames lists the entries of dir starting with base, sorted, a
// directory (or a link to one) with "/" appended; at most maxDirEntries
// entries are read.
func readNames(dir, base string) []string {
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer f.Close()
	entries, err := f.ReadDir(maxDirEntries)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil
	}
	hidden := strings.HasPrefix(base, ".")
	var names []string
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, base) || (strings.HasPrefix(n, ".") && !hidden) {
			continue
		}
		isDir := e.IsDir()
		if e.Type()&os.ModeSymlink != 0 {
			if fi, err := os.Stat(filepath.Join(dir, n)); err == nil {
				isDir = fi.IsDir()
			}
		}
		if isDir {
			n += "/"
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// commonPrefix is the longest prefix of every s, never cutting a
// character in two.
func commonPrefix(s []string) string {
	p := s[0]
	for _, x := range s[1:] {
		for !strings.HasPrefix(x, p) {
			p = p[:len(p)-1]
		}
	}
	for !utf8.ValidString(p) {
		p = p[:len(p)-1]
	}
	return p
}

// resolvePath turns a typed path into an absolute one: "~/" is home,
// relative paths are from the working directory.
func resolvePath(typed, home string) (string, error) {
	p := typed
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home == "" {
			return "", errors.New("tui: no home directory to put in place of ~")
		}
		p = filepath.Join(home, strings.TrimPrefix(p, "~"))
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", errors.New("tui: the working directory is gone: type an absolute path")
	}
	return abs, nil
}
