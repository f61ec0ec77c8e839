package sqlite

import (
	"context"
	"testing"

	"github.com/fluoro-dev/fluoro/internal/store"
)

// OpenWithRun opens a store at path (compactor off) holding user and entity
// alice and the run alice/p/r1; it closes the store when the test ends. For
// this package's tests, inside it and out (package sqlite_test).
func OpenWithRun(tb testing.TB, path string) (*DB, store.Run) {
	tb.Helper()
	ctx := context.Background()
	db, err := Open(ctx, path, Options{CompactEvery: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	u, err := db.CreateUser(ctx, store.User{Name: "alice"})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := db.CreateEntity(ctx, store.Entity{Name: "alice", Kind: "user", OwnerUserID: u.ID}); err != nil {
		tb.Fatal(err)
	}
	run, _, err := db.UpsertRun(ctx, store.RunSpec{RunKey: store.RunKey{Entity: "alice", Project: "p", RunID: "r1"}, Resume: store.ResumeAllow})
	if err != nil {
		tb.Fatal(err)
	}
	return db, run
}
