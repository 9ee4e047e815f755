// Command modtool is pocket's release helper. It reads the release manifest
// (versions.yaml at the repository root: one line "<module dir>: vX.Y.Z" per
// published module) and the go.mod files of the workspace, and:
//
//	modtool list   -root R              published modules, dependencies first: "dir path version"
//	modtool bump   -root R -version V [-modules a,b]
//	                                    sets those modules' manifest versions (all when -modules is
//	                                    empty) and every require of a published sibling, in every
//	                                    go.mod of the tree, to the manifest's version
//	modtool proxy  -root R -out DIR [-git REPO]
//	                                    zips every published module of the tree R (an export: no
//	                                    untracked or ignored files) at its manifest version into a
//	                                    file-based GOPROXY (list, .info, .mod, .zip); with -git, a
//	                                    version already tagged <dir>/vX.Y.Z in REPO is zipped from
//	                                    that tag instead, since a released version never changes
//	modtool deps   -root R              fails when two go.mod files require one dependency at
//	                                    different versions, or a module requires a published sibling
//	                                    at another version than the manifest's
//
// It is a development tool, not a published module (go.work lists it so that the
// workspace's go commands know it): scripts/release.sh, tidy.sh and consumer-check.sh run
// it with `cd scripts/modtool && GOWORK=off go run . <command> ...`.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/zip"
)

// manifestFile is the release manifest's name at the repository root.
const manifestFile = "versions.yaml"

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	fl := flag.NewFlagSet(cmd, flag.ExitOnError)
	root := fl.String("root", ".", "repository root (holds versions.yaml)")
	out := fl.String("out", "", "proxy: output directory")
	repo := fl.String("git", "", "proxy: git repository whose <dir>/vX.Y.Z tags, when present, are the released contents")
	version := fl.String("version", "", "bump: the new version (vX.Y.Z)")
	mods := fl.String("modules", "", "bump: comma-separated module dirs (default: every published module)")
	_ = fl.Parse(args)

	var err error
	switch cmd {
	case "list":
		err = list(*root)
	case "bump":
		err = bump(*root, *version, *mods)
	case "proxy":
		err = proxy(*root, *out, *repo)
	case "deps":
		err = deps(*root)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "modtool "+cmd+":", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: modtool list|bump|proxy|deps -root DIR [-out DIR] [-version vX.Y.Z] [-modules a,b]")
	os.Exit(2)
}

// entry is one published module: its directory, module path and version.
type entry struct {
	Dir, Path, Version string
	requires           []string // published siblings it requires (module paths)
}

var manifestLine = regexp.MustCompile(`^([A-Za-z0-9._/-]+):\s*(v\S+)\s*(#.*)?$`)

// readManifest parses versions.yaml: comments, blank lines and lines that do
// not have the "<dir>: vX.Y.Z" form (group headings) are skipped.
func readManifest(root string) ([]entry, error) {
	f, err := os.Open(filepath.Join(root, manifestFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var es []entry
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		m := manifestLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if !semver.IsValid(m[2]) || semver.Canonical(m[2]) != m[2] {
			return nil, fmt.Errorf("%s:%d: %q is not a canonical semantic version", manifestFile, n, m[2])
		}
		mf, err := readModFile(filepath.Join(root, m[1], "go.mod"))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", manifestFile, n, err)
		}
		es = append(es, entry{Dir: m[1], Path: mf.Module.Mod.Path, Version: m[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("%s lists no module", manifestFile)
	}
	return es, nil
}

func readModFile(name string) (*modfile.File, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return modfile.Parse(name, data, nil)
}

// ordered returns the manifest's modules with every module after the
// published siblings it requires, so tidying and tagging can go bottom-up.
func ordered(root string) ([]entry, error) {
	es, err := readManifest(root)
	if err != nil {
		return nil, err
	}
	byPath := map[string]int{}
	for i, e := range es {
		byPath[e.Path] = i
	}
	for i := range es {
		mf, err := readModFile(filepath.Join(root, es[i].Dir, "go.mod"))
		if err != nil {
			return nil, err
		}
		for _, r := range mf.Require {
			if _, ok := byPath[r.Mod.Path]; ok {
				es[i].requires = append(es[i].requires, r.Mod.Path)
			}
		}
	}
	var out []entry
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(e entry) error
	visit = func(e entry) error {
		switch state[e.Path] {
		case 1:
			return fmt.Errorf("module cycle through %s", e.Path)
		case 2:
			return nil
		}
		state[e.Path] = 1
		reqs := slices.Clone(e.requires)
		sort.Strings(reqs)
		for _, r := range reqs {
			if err := visit(es[byPath[r]]); err != nil {
				return err
			}
		}
		state[e.Path] = 2
		out = append(out, e)
		return nil
	}
	for _, e := range es {
		if err := visit(e); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func list(root string) error {
	es, err := ordered(root)
	if err != nil {
		return err
	}
	for _, e := range es {
		fmt.Printf("%s %s %s\n", e.Dir, e.Path, e.Version)
	}
	return nil
}

// goModFiles lists every go.mod of the tree (published or not), skipping
// hidden directories and testdata.
func goModFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root {
			name := d.Name()
			if strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor" || name == "bin" {
				return filepath.SkipDir
			}
		}
		if !d.IsDir() && d.Name() == "go.mod" {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

func bump(root, version, only string) error {
	if !semver.IsValid(version) || semver.Canonical(version) != version {
		return fmt.Errorf("-version %q is not a canonical semantic version (vX.Y.Z)", version)
	}
	es, err := readManifest(root)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, d := range strings.Split(only, ",") {
		if d = strings.TrimSpace(d); d != "" {
			want[d] = true
		}
	}
	for d := range want {
		if !slices.ContainsFunc(es, func(e entry) bool { return e.Dir == d }) {
			return fmt.Errorf("-modules: %s is not in %s", d, manifestFile)
		}
	}
	// Rewrite the manifest lines in place, keeping comments and layout.
	name := filepath.Join(root, manifestFile)
	data, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		m := manifestLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil || (len(want) > 0 && !want[m[1]]) {
			continue
		}
		lines[i] = strings.Replace(line, m[2], version, 1)
	}
	if err := os.WriteFile(name, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		return err
	}
	es, err = readManifest(root)
	if err != nil {
		return err
	}
	versions := map[string]string{}
	for _, e := range es {
		versions[e.Path] = e.Version
	}
	files, err := goModFiles(root)
	if err != nil {
		return err
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		mf, err := modfile.Parse(f, data, nil)
		if err != nil {
			return err
		}
		changed := false
		for _, r := range mf.Require {
			if v, ok := versions[r.Mod.Path]; ok && r.Mod.Version != v {
				if err := mf.AddRequire(r.Mod.Path, v); err != nil {
					return err
				}
				changed = true
			}
		}
		if !changed {
			continue
		}
		mf.Cleanup()
		out, err := mf.Format()
		if err != nil {
			return err
		}
		if err := os.WriteFile(f, out, 0o644); err != nil {
			return err
		}
		fmt.Println("bumped siblings in", f)
	}
	return nil
}

// proxy writes a file-based module proxy (the layout GOPROXY=file:///DIR
// reads) holding every published module of root at its manifest version.
// root must be an export of the tree: every file below a module directory
// goes into its zip (nested modules and vendor directories excepted, as the
// go command does).
func proxy(root, out, repo string) error {
	if out == "" {
		return errors.New("-out is required")
	}
	es, err := readManifest(root)
	if err != nil {
		return err
	}
	stamp := time.Now().UTC().Format(time.RFC3339)
	for _, e := range es {
		mv := module.Version{Path: e.Path, Version: e.Version}
		escaped, err := module.EscapePath(e.Path)
		if err != nil {
			return err
		}
		dir := filepath.Join(out, filepath.FromSlash(escaped), "@v")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		base := filepath.Join(dir, e.Version)
		tag := e.Dir + "/" + e.Version
		tagged := repo != "" && exec.Command("git", "-C", repo, "rev-parse", "-q", "--verify", "refs/tags/"+tag).Run() == nil
		var gomod []byte
		if tagged {
			gomod, err = exec.Command("git", "-C", repo, "show", tag+":"+e.Dir+"/go.mod").Output()
		} else {
			gomod, err = os.ReadFile(filepath.Join(root, e.Dir, "go.mod"))
		}
		if err != nil {
			return fmt.Errorf("%s go.mod: %w", mv, err)
		}
		if err := os.WriteFile(base+".mod", gomod, 0o644); err != nil {
			return err
		}
		info, _ := json.Marshal(struct{ Version, Time string }{e.Version, stamp})
		if err := os.WriteFile(base+".info", info, 0o644); err != nil {
			return err
		}
		zf, err := os.Create(base + ".zip")
		if err != nil {
			return err
		}
		if tagged {
			err = zip.CreateFromVCS(zf, mv, repo, tag, e.Dir)
		} else {
			err = zip.CreateFromDir(zf, mv, filepath.Join(root, e.Dir))
		}
		if err != nil {
			zf.Close()
			return fmt.Errorf("zip %s: %w", mv, err)
		}
		if err := zf.Close(); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "list"), []byte(e.Version+"\n"), 0o644); err != nil {
			return err
		}
		from := "tree"
		if tagged {
			from = "tag " + tag
		}
		fmt.Printf("proxy: %s@%s (from %s)\n", e.Path, e.Version, from)
	}
	return nil
}

// deps checks the one-version rule across every go.mod of the tree.
func deps(root string) error {
	es, err := readManifest(root)
	if err != nil {
		return err
	}
	manifest := map[string]string{}
	for _, e := range es {
		manifest[e.Path] = e.Version
	}
	files, err := goModFiles(root)
	if err != nil {
		return err
	}
	seen := map[string]map[string][]string{} // dependency -> version -> files
	var problems []string
	for _, f := range files {
		mf, err := readModFile(f)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, f)
		for _, r := range mf.Require {
			if v, ok := manifest[r.Mod.Path]; ok {
				if r.Mod.Version != v {
					problems = append(problems, fmt.Sprintf("%s requires %s %s; %s says %s", rel, r.Mod.Path, r.Mod.Version, manifestFile, v))
				}
				continue
			}
			if seen[r.Mod.Path] == nil {
				seen[r.Mod.Path] = map[string][]string{}
			}
			seen[r.Mod.Path][r.Mod.Version] = append(seen[r.Mod.Path][r.Mod.Version], rel)
		}
	}
	paths := make([]string, 0, len(seen))
	for p := range seen {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if len(seen[p]) < 2 {
			continue
		}
		var parts []string
		for v, fs := range seen[p] {
			parts = append(parts, fmt.Sprintf("%s in %s", v, strings.Join(fs, ", ")))
		}
		sort.Strings(parts)
		problems = append(problems, fmt.Sprintf("%s has %d versions: %s", p, len(seen[p]), strings.Join(parts, "; ")))
	}
	if len(problems) > 0 {
		return fmt.Errorf("one version per dependency is broken:\n  %s", strings.Join(problems, "\n  "))
	}
	fmt.Printf("deps: %d go.mod files, %d dependencies, one version each\n", len(files), len(seen))
	return nil
}
