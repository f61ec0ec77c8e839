package store

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"regexp"
)

var adjectives = []string{
	"amber", "brave", "calm", "clever", "crisp", "daring", "eager", "fancy",
	"fiery", "gentle", "glad", "golden", "hardy", "hazy", "icy", "jolly",
	"keen", "lively", "lucky", "misty", "noble", "olive", "proud", "quiet",
	"rapid", "rosy", "royal", "silent", "silver", "smooth", "snowy", "solar",
	"stellar", "sunny", "swift", "tidy", "vivid", "warm", "wild", "witty",
}

var nouns = []string{
	"breeze", "brook", "canyon", "cloud", "comet", "cosmos", "dawn", "dream",
	"dust", "field", "firefly", "flower", "forest", "frost", "galaxy", "glade",
	"grass", "haze", "hill", "lake", "leaf", "meadow", "moon", "morning",
	"mountain", "night", "ocean", "pine", "planet", "rain", "river", "sea",
	"shadow", "sky", "snow", "star", "sun", "thunder", "valley", "wave",
}

func randIndex(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		return 0
	}
	return int(v.Int64())
}

// GenerateRunName returns a display name like "swift-river-12", where n is
// the run's ordinal within its project.
func GenerateRunName(n int64) string {
	return fmt.Sprintf("%s-%s-%d", adjectives[randIndex(len(adjectives))], nouns[randIndex(len(nouns))], n)
}

const runIDAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// GenerateRunID returns a random 8-character run id of [a-z0-9].
func GenerateRunID() string {
	b := make([]byte, 8)
	for i := range b {
		b[i] = runIDAlphabet[randIndex(len(runIDAlphabet))]
	}
	return string(b)
}

var (
	runIDRe = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$`)
	nameRe  = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$`)
)

// ValidRunID reports whether id is acceptable as a client-chosen run id:
// 1–64 characters of letters, digits, '_', '-' and '.', not starting with '.'.
func ValidRunID(id string) bool { return runIDRe.MatchString(id) }

// ValidName reports whether s is acceptable as an entity or project name:
// 1–128 characters of letters, digits, '_', '-' and '.', not starting with '.'.
func ValidName(s string) bool { return nameRe.MatchString(s) }
