package filetransfer

import (
	"fmt"
	"path/filepath"
	"strings"
)

// cleanName checks a file name received from a peer and returns it in the
// local path syntax. Names use "/" as separator and must stay below the
// root: no absolute path, no ".." element, no NUL, no empty element.
// Symbolic links are the business of os.Root, which refuses any that leads
// outside. With flat set, the name must be a single element.
func cleanName(name string, flat bool) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("%w: empty", ErrBadName)
	case len(name) > 1024:
		return "", fmt.Errorf("%w: %d bytes long (limit 1024)", ErrBadName, len(name))
	case strings.ContainsRune(name, 0):
		return "", fmt.Errorf("%w: %q contains NUL", ErrBadName, name)
	case strings.HasPrefix(name, "/") || filepath.IsAbs(name):
		return "", fmt.Errorf("%w: %q is absolute", ErrBadName, name)
	case strings.HasSuffix(name, PartSuffix):
		return "", fmt.Errorf("%w: %q ends in %s", ErrBadName, name, PartSuffix)
	}
	for _, el := range strings.Split(name, "/") {
		switch el {
		case "", ".", "..":
			return "", fmt.Errorf("%w: %q has an element %q", ErrBadName, name, el)
		}
	}
	if flat && strings.Contains(name, "/") {
		return "", fmt.Errorf("%w: %q is not a plain file name", ErrBadName, name)
	}
	local := filepath.FromSlash(name)
	if !filepath.IsLocal(local) {
		return "", fmt.Errorf("%w: %q leaves the root", ErrBadName, name)
	}
	return local, nil
}
