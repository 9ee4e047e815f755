package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/wire"
)

// userCommandTimeout bounds one `etserver user ...` command once its password is read.
const userCommandTimeout = time.Minute

// userCommand is `etserver user add|passwd|del|list|quota`: account management on the
// configured store. Passwords come from the terminal (asked twice, not echoed) or, with
// --password-stdin, from the first line of standard input; never from a flag.
func userCommand() *cli.Command {
	pwStdin := &cli.BoolFlag{Name: "password-stdin", Usage: "read the password from the first line of standard input instead of the terminal"}
	quotaFlags := func(required string) []cli.Flag {
		return []cli.Flag{
			&cli.IntFlag{Name: "read", Usage: "read calls per second" + required},
			&cli.IntFlag{Name: "write", Usage: "write calls per second" + required},
		}
	}
	return &cli.Command{
		Name:  "user",
		Usage: "manage accounts on the configured store: add, passwd, del, list, quota",
		Subcommands: []*cli.Command{
			{
				Name: "add", Usage: "create an account; the password is hashed at the configured password.* cost",
				ArgsUsage: "NAME",
				Flags:     append(append(storeFlags(), pwStdin), quotaFlags(" (with --write; optional)")...),
				Action: func(c *cli.Context) error {
					name, err := oneArg(c)
					if err != nil {
						return err
					}
					var q *domain.Quota
					if c.IsSet("read") || c.IsSet("write") {
						if !c.IsSet("read") || !c.IsSet("write") {
							return usageErrorf("user add: --read and --write go together")
						}
						q = &domain.Quota{Read: c.Int("read"), Write: c.Int("write")}
					}
					pw, err := readPassword(c)
					if err != nil {
						return err
					}
					return withService(c, func(ctx context.Context, svc *app.Service) error {
						a, err := svc.AddUser(ctx, name, pw, q)
						if err != nil {
							return err
						}
						printAccount(c, "added", a)
						return nil
					})
				},
			},
			{
				Name: "passwd", Usage: "change an account's password (hashed at the configured cost)",
				ArgsUsage: "NAME",
				Flags:     append(storeFlags(), pwStdin),
				Action: func(c *cli.Context) error {
					name, err := oneArg(c)
					if err != nil {
						return err
					}
					pw, err := readPassword(c)
					if err != nil {
						return err
					}
					return withService(c, func(ctx context.Context, svc *app.Service) error {
						a, err := svc.ChangePassword(ctx, name, pw)
						if err != nil {
							return err
						}
						printAccount(c, "changed the password of", a)
						return nil
					})
				},
			},
			{
				Name: "del", Usage: "delete an account and its quota (open sessions last until they expire)",
				ArgsUsage: "NAME",
				Flags:     storeFlags(),
				Action: func(c *cli.Context) error {
					name, err := oneArg(c)
					if err != nil {
						return err
					}
					return withService(c, func(ctx context.Context, svc *app.Service) error {
						a, err := svc.DeleteUser(ctx, name)
						if err != nil {
							return err
						}
						fmt.Fprintf(c.App.Writer, "deleted user %q (id %d)\n", a.Username, a.ID)
						return nil
					})
				},
			},
			{
				Name: "quota", Usage: "set an account's read and write quota (calls per second)",
				ArgsUsage: "NAME",
				Flags:     append(storeFlags(), quotaFlags(" (required)")...),
				Action: func(c *cli.Context) error {
					name, err := oneArg(c)
					if err != nil {
						return err
					}
					if !c.IsSet("read") || !c.IsSet("write") {
						return usageErrorf("user quota: --read and --write are both required")
					}
					return withService(c, func(ctx context.Context, svc *app.Service) error {
						a, err := svc.SetUserQuota(ctx, name, domain.Quota{Read: c.Int("read"), Write: c.Int("write")})
						if err != nil {
							return err
						}
						printAccount(c, "set the quota of", a)
						return nil
					})
				},
			},
			{
				Name: "list", Usage: "list accounts in username byte order, a page at a time",
				Flags: append(storeFlags(),
					&cli.IntFlag{Name: "limit", Value: app.DefaultListLimit, Usage: fmt.Sprintf("accounts per page (1..%d)", app.MaxListLimit)},
					&cli.StringFlag{Name: "after", Usage: "start after this username (the last one of the previous page)"},
				),
				Action: func(c *cli.Context) error {
					if c.NArg() != 0 {
						return usageErrorf("user list takes no arguments, got %q", c.Args().Slice())
					}
					if c.Int("limit") <= 0 {
						return usageErrorf("user list: --limit must be in 1..%d, got %d", app.MaxListLimit, c.Int("limit"))
					}
					return withService(c, func(ctx context.Context, svc *app.Service) error {
						page, err := svc.ListUsers(ctx, c.String("after"), c.Int("limit"))
						if err != nil {
							return err
						}
						w := c.App.Writer
						fmt.Fprintf(w, "%-8s %-24s %10s %10s  %s\n", "ID", "USERNAME", "READ/S", "WRITE/S", "HASH")
						for _, a := range page {
							fmt.Fprintf(w, "%-8d %-24q %10d %10d  %s\n", a.ID, a.Username, a.Quota.Read, a.Quota.Write, hashNote(a))
						}
						if len(page) == c.Int("limit") {
							fmt.Fprintf(w, "next page: --after %q\n", page[len(page)-1].Username)
						}
						return nil
					})
				},
			},
		},
	}
}

// oneArg returns the command's one argument, the username. Flags may also follow it
// (`user quota NAME --read 5 --write 5`): urfave/cli stops parsing at the first argument,
// so the rest is parsed here with the command's own flags and set on c.
func oneArg(c *cli.Context) (string, error) {
	if c.NArg() < 1 {
		return "", usageErrorf("user %s takes one argument, the username; got none", c.Command.Name)
	}
	if tail := c.Args().Tail(); len(tail) > 0 {
		fs := flag.NewFlagSet(c.Command.Name, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		for _, f := range c.Command.Flags {
			if err := f.Apply(fs); err != nil {
				return "", err
			}
		}
		if err := fs.Parse(tail); err != nil {
			return "", usageErrorf("user %s: %v", c.Command.Name, err)
		}
		if fs.NArg() > 0 {
			return "", usageErrorf("user %s takes one argument, the username; got %q too", c.Command.Name, fs.Args())
		}
		var err error
		fs.Visit(func(f *flag.Flag) {
			if e := c.Set(f.Name, f.Value.String()); e != nil && err == nil {
				err = e
			}
		})
		if err != nil {
			return "", err
		}
	}
	return c.Args().First(), nil
}

// withService opens the configured store and runs f with etserver's use cases on it.
func withService(c *cli.Context, f func(ctx context.Context, svc *app.Service) error) error {
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(userCommandTimeout)
	defer cancel()
	b, err := wire.Open(ctx, cfg, newLogger(cfg, c.App.ErrWriter))
	if err != nil {
		return err
	}
	defer b.Close()
	svc, err := wire.NewService(cfg, b)
	if err != nil {
		return err
	}
	return f(ctx, svc)
}

func printAccount(c *cli.Context, what string, a app.Account) {
	q := "default quota"
	if a.QuotaSet {
		q = "quota"
	}
	fmt.Fprintf(c.App.Writer, "%s user %q (id %d): %s read %d/s write %d/s, %s\n", what, a.Username, a.ID, q, a.Quota.Read, a.Quota.Write, hashNote(a))
}

func hashNote(a app.Account) string {
	s := "argon2id " + a.HashParams.String()
	if a.HashParams == (domain.PasswordParams{}) {
		s = "bcrypt"
	}
	if a.Outdated {
		s += " (below the configured cost: upgraded at the next login)"
	}
	return s
}

// readPassword returns the new password: the first line of stdin with --password-stdin
// (at most domain.MaxPasswordBytes bytes are read, plus the line end), otherwise typed
// twice on the terminal without echo.
func readPassword(c *cli.Context) (string, error) {
	if c.Bool("password-stdin") {
		return passwordFromReader(c.App.Reader)
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", errors.New("no terminal to ask for the password on: pass --password-stdin and write it to standard input")
	}
	fmt.Fprint(c.App.ErrWriter, "new password: ")
	p1, err := term.ReadPassword(fd)
	fmt.Fprintln(c.App.ErrWriter)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	fmt.Fprint(c.App.ErrWriter, "again: ")
	p2, err := term.ReadPassword(fd)
	fmt.Fprintln(c.App.ErrWriter)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if !bytes.Equal(p1, p2) {
		return "", errors.New("the passwords typed differ")
	}
	return string(p1), nil
}

func passwordFromReader(r io.Reader) (string, error) {
	if r == nil {
		r = os.Stdin
	}
	br := bufio.NewReaderSize(io.LimitReader(r, domain.MaxPasswordBytes+2), domain.MaxPasswordBytes+2)
	line, err := br.ReadBytes('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	if err == io.EOF && len(line) == domain.MaxPasswordBytes+2 {
		return "", fmt.Errorf("%w: password is longer than %d bytes", domain.ErrInvalidArgument, domain.MaxPasswordBytes)
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return string(line), nil
}
