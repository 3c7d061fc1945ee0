package redisstore

import (
	"context"
	"testing"
	"time"
)

// BenchmarkRedisQuota is what the WeChat quota adds to one send (a take)
// and to one inbound push (a grant).
func BenchmarkRedisQuota(b *testing.B) {
	for _, backend := range []string{"embedded", "real", "cluster"} {
		b.Run(backend, func(b *testing.B) {
			url := benchURL(b, backend)
			r := openTestRedis(b, url)
			ctx := context.Background()
			b.Run("grant+take", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := r.GrantQuota(ctx, "wechat:quota:wx:o-bench", 5, 48*time.Hour); err != nil {
						b.Fatal(err)
					}
					if ok, err := r.TakeQuota(ctx, "wechat:quota:wx:o-bench"); err != nil || !ok {
						b.Fatal(ok, err)
					}
				}
			})
		})
	}
}
