package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/devcerts"
)

func certsCommand() *cli.Command {
	return &cli.Command{
		Name:  "certs",
		Usage: "write a development CA and server/client certificates for TLS and mTLS",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Value: "certs", Usage: "output directory"},
			&cli.StringSliceFlag{Name: "host", Usage: "server DNS name or IP (repeatable; default localhost, 127.0.0.1, ::1)"},
			&cli.StringFlag{Name: "client-name", Value: devcerts.DefaultClientName, Usage: "client certificate common name"},
			&cli.DurationFlag{Name: "validity", Value: devcerts.DefaultValidity, Usage: "certificate lifetime"},
			&cli.BoolFlag{Name: "force", Usage: "overwrite existing files"},
		},
		Action: func(c *cli.Context) error {
			f, err := devcerts.Write(c.String("dir"), devcerts.Options{
				Hosts: c.StringSlice("host"), ClientName: c.String("client-name"), Validity: c.Duration("validity"),
			}, c.Bool("force"))
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "wrote %s\nserver: tls.cert=%s tls.key=%s (mTLS: tls.client_ca=%s)\nclient: %s %s\n",
				strings.Join([]string{f.CACert, f.CAKey, f.ServerCert, f.ServerKey, f.ClientCert, f.ClientKey}, " "),
				f.ServerCert, f.ServerKey, f.CACert, f.ClientCert, f.ClientKey)
			return nil
		},
	}
}
