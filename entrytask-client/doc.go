// Package etclient holds etclient, the command-line client and load generator for etserver.
//
// This module is under construction; see README.md for its status.
package etclient
