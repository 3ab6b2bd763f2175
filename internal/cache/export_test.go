package cache

// Kill stops the cache's background work the way its process's death
// would: nothing is flushed, marked or removed on the way out.
func Kill(c *Cache) {
	c.stop()
	c.loops.Wait()
	_ = c.rdb.Close()
	_ = c.repairRdb.Close()
}

// MarksVersion is the version of the record of hashes to repair that the
// cache's copy holds.
func MarksVersion(c *Cache) int64 {
	c.marks.mu.Lock()
	defer c.marks.mu.Unlock()
	return c.marks.version
}

// BreakerOpen reports whether the breaker of online reads is open.
func BreakerOpen(c *Cache) bool { return c.breaker.open() }
