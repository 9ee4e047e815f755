// Package httpadapter puts HTTP in front of pocket services: a reverse proxy to IIP servers and HTTP/JSON transcoding to dora services.
//
// This module is under construction; see README.md for its status.
package httpadapter
