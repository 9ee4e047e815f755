package redis_test

import (
	"context"
	"log"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/redis"
)

// Open selects the mode from the options: Addr is one node, Addrs a Redis Cluster (any of
// its nodes as seeds), Addrs with MasterName the sentinels of a primary. The Store works
// the same in all three.
func ExampleOpen() {
	ctx := context.Background()
	for _, opts := range []redis.Options{
		{Addr: "127.0.0.1:6379"},
		{Addrs: []string{"10.0.0.11:6379", "10.0.0.12:6379", "10.0.0.13:6379"}},
		{Addrs: []string{"10.0.0.21:26379", "10.0.0.22:26379", "10.0.0.23:26379"}, MasterName: "etserver"},
	} {
		s, err := redis.Open(ctx, opts)
		if err != nil {
			log.Print(err)
			continue
		}
		log.Printf("%s mode", s.Mode()) // "single", "cluster", "sentinel"
		s.Close()
	}
}
