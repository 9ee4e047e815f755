// Package iip implements the IIP protocol, path-addressed request/response over logical channels of one TCP connection, client and server.
//
// This module is under construction; see README.md for its status.
package iip
