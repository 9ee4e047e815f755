// Package lbclient balances calls over many backends given as host:port#weight lists; the iip and dora clients are built on it.
//
// This module is under construction; see README.md for its status.
package lbclient
